"""ULMFiT in three stages: pretrain a language model, fine-tune it, train a classifier on it.

Howard & Ruder (2018): a language model pretrained on unlabelled text, fine-tuned on the
task's own text, then a classifier trained on top of it.

    python recipes/finetune.py                      # the bundled samples, a few minutes
    python recipes/finetune.py --unlabeled-data unsup.parquet train.parquet --data train.parquet \
        --test-data test.parquet --pretrain-budget 3200 --lm-budget 150 \
        --classifier-budget 1750 --vocab-size 16000 --batch-size 64 --head-hidden 50 \
        --classifier-lr 3e-3 --lm-drop-mult 0 --out runs/ulmfit

Each stage writes a normal run folder under --out (a fresh runs/finetune-<time>/ unless
given): lm/, lm_task/, classifier/, and scratch/, a classifier trained from scratch on the
same splits for comparison (--no-baseline skips it). Every
setting and the labelled data are checked before stage 1 starts; a --out that already
holds files is refused unless --overwrite. `--skip-pretrain --init-from LM_DIR` starts
from an existing language model. The stages' settings are in textrnn.stages.
"""
import textrnn


def train(stage, quiet: bool) -> dict:
    return textrnn.exit_if_interrupted(stage.prepare().fit(show_progress=not quiet))


def main(stages):
    stages.check()
    quiet = stages.pretrain.run.quiet

    # 1. Pretrain a language model on unlabelled text (or start from one): a word
    #    tokenizer learnt from that text, an AWD-LSTM, the one training loop.
    if not stages.skip_pretrain:
        stages.task_lm.run.init_from = train(stages.pretrain, quiet)["run_dir"]

    # 2. Fine-tune it on the task's own text, growing the vocabulary for the task's words.
    lm_task = train(stages.task_lm, quiet)
    print(f"language model on the task's text: {lm_task['metrics']['loss']:.3f} nats/token")

    # 3. The classifier on top of the fine-tuned language model, then its evaluation.
    stages.classifier.run.init_from = lm_task["run_dir"]
    result = train(stages.classifier, quiet)
    print(f"--- validation ---\n{textrnn.format_report(result['metrics'])}")
    if "test" in result:
        print(f"\n--- test ---\n{textrnn.format_report(result['test'])}")

    # 4. The same splits, a classifier from scratch: what the pretraining bought.
    if stages.scratch is not None:
        scratch = train(stages.scratch, quiet)
        split = "test" if "test" in result else "validation"
        ours, theirs = ((r.get("test") or r["metrics"])["accuracy"] for r in (result, scratch))
        print(f"\n{split} accuracy: ULMFiT {ours:.4f}, from scratch {theirs:.4f}")
        if ours < theirs:
            print("the pretraining did not pay here: its text is too small or too far from the "
                  "task's; pass a large unlabelled corpus of the task's kind, e.g. "
                  "--unlabeled-data stanfordnlp/imdb --split unsupervised, and longer budgets")
    print(f"\nrun folders under {stages.out}")


if __name__ == "__main__":
    stages = textrnn.stages.parse_finetune(description=__doc__.split("\n")[0])
    textrnn.run_guarded(main, stages, debug=stages.pretrain.run.debug)
