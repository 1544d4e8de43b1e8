"""ULMFiT in three stages: pretrain a language model, fine-tune it, train a classifier on it.

Howard & Ruder (2018): a language model pretrained on unlabelled text, fine-tuned on the
task's own text, then a classifier trained on top of it; with --both-directions, the same
again reading every text backwards, and the two classifiers' probabilities averaged.

    python recipes/finetune.py                      # the bundled samples, a few minutes
    python recipes/finetune.py --unlabeled-data unsup.parquet train.parquet --data train.parquet \
        --test-data test.parquet                    # a real corpus: its preset, about 90 minutes
    python recipes/finetune.py ... --both-directions   # and backwards: twice that

Each stage writes a normal run folder under --out (a fresh runs/finetune-<time>/ unless
given): lm/, lm_task/, classifier/ (backward/lm/, ... with --both-directions), and scratch/,
a classifier trained from scratch on the same splits for comparison (the bundled samples
only; --baseline asks for it on a real corpus, --no-baseline skips it). Every setting and
the labelled data are checked before stage 1 starts; a --out that already holds files is
refused unless --overwrite. `--skip-pretrain --init-from LM_DIR` starts from an existing
language model (and `--backward-init-from` from a backward one). The stages' settings and
the real-corpus preset are in textrnn.stages.
"""
import textrnn


def train(stage, quiet: bool) -> dict:
    return textrnn.exit_if_interrupted(stage.prepare().fit(show_progress=not quiet))


def one_direction(way, quiet: bool, named: bool) -> dict:
    # 1. Pretrain a language model on unlabelled text (or start from one): a word
    #    tokenizer learnt from that text, an AWD-LSTM, the one training loop.
    if way.pretrain is not None:
        way.task_lm.run.init_from = train(way.pretrain, quiet)["run_dir"]

    # 2. Fine-tune it on the task's own text, growing the vocabulary for the task's words.
    lm_task = train(way.task_lm, quiet)
    name = f"{way.name}: " if named else ""
    print(f"{name}language model on the task's text: {lm_task['metrics']['loss']:.3f} nats/token")

    # 3. The classifier on top of the fine-tuned language model, then its evaluation.
    way.classifier.run.init_from = lm_task["run_dir"]
    result = train(way.classifier, quiet)
    print(f"--- {name}validation ---\n{textrnn.format_report(result['metrics'])}")
    if "test" in result:
        print(f"\n--- {name}test ---\n{textrnn.format_report(result['test'])}")
    return result


def main(stages):
    stages.check()
    quiet = stages.pretrain.run.quiet if stages.pretrain else stages.task_lm.run.quiet
    results = [one_direction(way, quiet, len(stages.directions) > 1) for way in stages.directions]
    result = results[0]
    split = "test" if "test" in result else "validation"
    accuracy = lambda r: (r.get("test") or r["metrics"])["accuracy"]  # noqa: E731

    # 4. Forwards and backwards together: the mean of the two classifiers' probabilities.
    if len(results) == 2:
        pair = textrnn.load(results[0]["run_dir"]).ensemble(results[1]["run_dir"])
        held_out = stages.held_out(split)
        both = pair.evaluate(held_out)["accuracy"]
        print(f"\n{split} accuracy: forward {accuracy(results[0]):.4f}, backward "
              f"{accuracy(results[1]):.4f}, both {both:.4f}")

    # 5. The same splits, a classifier from scratch: what the pretraining bought.
    if stages.scratch is not None:
        ours, theirs = accuracy(result), accuracy(train(stages.scratch, quiet))
        print(f"\n{split} accuracy: ULMFiT {ours:.4f}, from scratch {theirs:.4f}")
        if ours < theirs:
            print("the pretraining did not pay here: its text is too small or too far from the "
                  "task's; pass a large unlabelled corpus of the task's kind, e.g. "
                  "--unlabeled-data stanfordnlp/imdb --split unsupervised, and longer budgets")
    print(f"\nrun folders under {stages.out}")


if __name__ == "__main__":
    stages = textrnn.stages.parse_finetune(description=__doc__.split("\n")[0])
    textrnn.run_guarded(main, stages, debug=stages.task_lm.run.debug)
