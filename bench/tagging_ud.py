"""Part-of-speech tagging on Universal Dependencies English EWT: UPOS accuracy on test with
gold words, each tagger trained from scratch within one time budget, beside a
most-frequent-tag baseline (unknown words by their suffix); then tagging speed.

    python bench/tagging_ud.py --data-dir DIR    # DIR holds train.conllu, dev.conllu, test.conllu

Variants (--variants): "default" is `textrnn train-tagger` as it ships (CRF head, character
BiLSTM); "softmax" and "no-chars" change one thing each, "softmax-no-chars" both; "cse" adds
contextual string embeddings from a forward and a backward character language model
trained here on EWT's own training words (a sentence per line) within the same budget: each
language model gets --lm-share of it, the tagger what is left. The default variant's test
figure is the one the target is read against; the others are for comparison. Prints one
JSON object per line, then a summary.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from recipe_run import TRAINING_SUMMARY, read_run, run_command  # noqa: E402
from sample_speed import cpu_name  # noqa: E402

VARIANTS = {"default": [], "softmax": ["--head", "softmax"], "no-chars": ["--char-features", "none"],
            "softmax-no-chars": ["--head", "softmax", "--char-features", "none"], "cse": []}
LM = ["--tokenizer", "char", "--num-layers", "1", "--hidden-size", "512", "--embed-dim", "64",
      "--bptt", "128", "--batch-size", "32", "--lr", "3e-3", "--dropout", "0.1", "--precision", "auto",
      "--eval-every", "250", "--save-every", "250"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--budget", type=float, default=900.0, help="seconds per variant, all included")
    p.add_argument("--lm-share", type=float, default=0.25, help="cse: each language model's share")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--work", type=Path, default=None, help="where the runs go (default: a temp folder)")
    p.add_argument("--speed-sentences", type=int, default=400)
    return p.parse_args(argv)


def baseline(d: Path) -> dict:
    from textrnn.data.tagged import load_tagged
    from textrnn.tasks.tag_baseline import MostFrequentTag
    from textrnn.tasks.tagger import tagging_metrics

    train, test = load_tagged(d / "train.conllu"), load_tagged(d / "test.conllu")
    guess = MostFrequentTag(train.sentences, train.tags).tag(test.sentences)
    return {"variant": "most-frequent-tag", "test_accuracy": tagging_metrics(test.tags, guess, "none")["accuracy"]}


def lm_text(d: Path, out: Path) -> Path:
    """EWT's training words, a sentence per line, as the tagger reads sentences."""
    from textrnn.data.tagged import load_tagged

    out.write_text("\n".join(" ".join(s) for s in load_tagged(d / "train.conllu").sentences) + "\n")
    return out


def tagger(d: Path, out: Path, budget: float, extra: list) -> dict:
    args = ["train-tagger", "--data", str(d / "train.conllu"), "--val-data", str(d / "dev.conllu"),
            "--test-data", str(d / "test.conllu"), "--time-budget", str(budget), "--out", str(out),
            "--overwrite", "--quiet", *extra]
    wall = run_command(args)
    run = read_run(out)
    m = run["metrics"]
    return {"command": "textrnn " + " ".join(args), "dev_accuracy": m["val"]["accuracy"],
            "test_accuracy": m["test"]["accuracy"], "wall_seconds": round(wall, 1),
            **{k: run[k] for k in TRAINING_SUMMARY}, "words_per_s": run["median_tokens_per_s"]}


def variant(name: str, args, work: Path) -> dict:
    d, start = args.data_dir, time.perf_counter()
    extra = list(VARIANTS[name])
    lms = {}
    if name == "cse":
        text = lm_text(d, work / "ewt_train.txt")
        for side, flags in (("forward", []), ("backward", ["--reverse"])):
            out = work / f"lm_{side}"
            lm_args = ["train-lm", "--data", str(text), *LM, *flags, "--time-budget",
                       str(args.budget * args.lm_share), "--out", str(out), "--overwrite", "--quiet"]
            run_command(lm_args)
            run = read_run(out)
            lms[side] = {"command": "textrnn " + " ".join(lm_args), "val_bpc": run["metrics"]["val"].get("bpc"),
                         **{k: run[k] for k in TRAINING_SUMMARY}}
        extra += ["--embeddings", str(work / "lm_forward"), str(work / "lm_backward")]
    left = args.budget - (time.perf_counter() - start)
    result = tagger(d, work / f"tagger_{name}", left, extra)
    return {"variant": name, **result, **({"language_models": lms} if lms else {}),
            "total_seconds": round(time.perf_counter() - start, 1)}


def speed(run_dir: Path, d: Path, n: int) -> dict:
    """Sentences per second at batch 1 and 64; a CRF's Viterbi against the argmax of the same
    tag scores."""
    import textrnn
    from textrnn.data.tagged import load_tagged
    from textrnn.tasks.tagger import collate_sentences, encode_sentences, model_inputs

    run = textrnn.load(run_dir)
    sentences = load_tagged(d / "test.conllu").sentences[:n]
    out = {}
    for batch in (1, 64):
        start = time.perf_counter()
        run.tag_words(sentences, batch_size=batch)
        out[f"sentences_per_s_batch_{batch}"] = round(n / (time.perf_counter() - start), 1)
    model = run.model
    encoded = encode_sentences(run.tokenizer, sentences[:64], [])
    words, lengths, chars, strings, _ = model_inputs(collate_sentences(encoded), "cpu")
    with torch.no_grad():
        scores = model.emissions(words, lengths, chars, strings)
        for name, decode in (("viterbi", lambda: model.crf.decode(scores, lengths)),
                             ("argmax", lambda: scores.argmax(-1))):
            start = time.perf_counter()
            for _ in range(20):
                decode()
            out[f"{name}_ms_per_64_sentences"] = round(1000 * (time.perf_counter() - start) / 20, 3)
    return out


def main(argv=None):
    args = parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="tagging_ud_"))
    work.mkdir(parents=True, exist_ok=True)
    machine = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    rows = [baseline(args.data_dir)]
    print(json.dumps(rows[0]), flush=True)
    for name in args.variants:
        rows.append(variant(name, args, work))
        print(json.dumps(rows[-1]), flush=True)
    if "default" in args.variants:
        rows.append({"speed": speed(work / "tagger_default", args.data_dir, args.speed_sentences)})
        print(json.dumps(rows[-1]), flush=True)
    summary = {r["variant"]: round(100 * r["test_accuracy"], 2) for r in rows if "variant" in r}
    print(json.dumps({"machine": machine, "budget_seconds": args.budget, "upos_test_accuracy": summary,
                      "target_default": 95.5, "aim_cse": 96.0}))


if __name__ == "__main__":
    main()
