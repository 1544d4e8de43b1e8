"""ULMFiT against classifiers trained from scratch for the same total time (IMDb, SST-2).

    python bench/ulmfit_quality.py --unlabeled-data IMDB/unsup.parquet IMDB/train.parquet \
        --data IMDB/train.parquet --test-data IMDB/test.parquet --budgets 3000 450 1050 \
        --out runs/bench-ulmfit -- --vocab-size 16000 --batch-size 64
    python bench/ulmfit_quality.py --init-from runs/bench-ulmfit/lm --init-from-seconds 3103 \
        --data IMDB/train.parquet --test-data IMDB/test.parquet --budgets 0 250 1750 \
        --baselines same --out runs/bench-ulmfit2 -- --vocab-size 16000 --batch-size 64 \
        --head-hidden 50 --classifier-lr 3e-3
    python bench/ulmfit_quality.py --init-from runs/bench-ulmfit/lm --data SST2/train_phrases.tsv \
        --val-data SST2/dev.tsv --test-data SST2/test.tsv --budgets 0 120 900 --baselines \
        --out runs/bench-ulmfit-sst2 -- --batch-size 64

Runs `recipes/finetune.py` (pretrain a language model, fine-tune it on the task's text,
train a classifier on it; with --init-from the first stage is skipped) and times the whole
recipe. With --init-from, --init-from-seconds (the wall time that produced that language
model) is added to the total, so the comparison stays at equal cost.

Then runs `recipes/sentiment.py` from scratch with that total as its time budget and no
epoch limit (early stopping after --patience epochs without a better validation
accuracy), once per --baselines entry:
  same  the ULMFiT classifier's own architecture (read from its config.json), random weights;
  best  sentiment.py's own preset for real corpora, a word BiLSTM with max pooling.
Prints JSON: test accuracy of each, the differences in points, and per-stage steps,
throughput and losses; the recipe's part also goes to stderr as soon as it is known, and
--ulmfit-result reads that line back instead of running the recipe again. Extra arguments
after `--` go to the finetune recipe.
"""
import argparse
import json
import sys
from pathlib import Path

import textrnn

from recipe_run import TRAINING_SUMMARY, read_run, run_recipe

STAGES = ("lm", "lm_task", "classifier")
BASELINES = ("same", "best")


def pick(metrics: dict) -> dict:
    return {k: round(metrics[k], 4) for k in ("accuracy", "macro_f1", "roc_auc", "loss") if k in metrics}


def stage_summary(run_dir: Path) -> dict:
    r = read_run(run_dir)
    return {"val": pick(r["metrics"]["val"]), **{k: r[k] for k in TRAINING_SUMMARY}}


def data_args(args) -> list[str]:
    flags = ["--data", args.data, "--test-data", args.test_data]
    return flags + (["--val-data", args.val_data] if args.val_data else [])


def run_ulmfit(args) -> dict:
    pretrain, lm, clf = args.budgets
    recipe_args = [*data_args(args), "--lm-budget", str(lm), "--classifier-budget", str(clf), *args.extra]
    if args.init_from:
        recipe_args += ["--skip-pretrain", "--init-from", args.init_from]
    else:
        recipe_args += ["--unlabeled-data", *args.unlabeled_data, "--pretrain-budget", str(pretrain)]
    out = Path(args.out)
    r = run_recipe("finetune.py", recipe_args, str(out), run_dir=str(out / "classifier"))
    stages = {s: stage_summary(out / s) for s in STAGES if (out / s / "log.jsonl").exists()}
    # A reused language model still cost its pretraining: count that wall time in the total.
    reused = args.init_from_seconds if args.init_from else 0.0
    return {"command": r["command"], "recipe_seconds": r["total_seconds"], "init_from_seconds": reused,
            "total_seconds": round(r["total_seconds"] + reused, 1),
            "val": pick(r["metrics"]["val"]), "test": pick(r["metrics"]["test"]),
            "test_examples": r["metrics"]["test"]["examples"], "stages": stages}


# The classifier's model settings that sentiment.py takes as flags; the "same" baseline
# rebuilds the ULMFiT classifier's architecture from these, with random weights.
ARCHITECTURE_FLAGS = ("cell", "embed_dim", "hidden_size", "num_layers", "dropout", "embed_dropout",
                      "weight_drop", "conv_kernel", "pooling", "head_hidden")


def same_classifier_args(classifier_dir: Path) -> list[str]:
    """sentiment.py flags for the ULMFiT classifier's architecture, vocabulary size, batch
    size and text length, trained from scratch (Adam at a constant rate, as the recipe's
    default)."""
    raw = json.loads((classifier_dir / "config.json").read_text())
    raw.pop("textrnn_version", None)
    cfg = textrnn.config_from_dict(raw)  # either layout: 0.1.0's flat one or today's
    settings = json.loads((classifier_dir / "training_config.json").read_text())
    batch, data = settings["training"]["batch_size"], settings["data"]
    architecture = {**vars(cfg.encoder), **vars(cfg.head)}
    flags = [f"--{k.replace('_', '-')}={architecture[k]}" for k in ARCHITECTURE_FLAGS]
    # Runs from before keep_end existed kept the start of a long text.
    cut = [] if data.get("keep_end", False) else ["--no-keep-end"]
    return [*flags, "--no-bidirectional", "--vocab-size", str(cfg.vocab_size),
            "--batch-size", str(batch), "--max-length", str(data["max_length"]), *cut]


def run_baseline(args, name: str, seconds: float) -> dict:
    """A classifier trained from scratch for `seconds`: `best` is sentiment.py's own preset
    (a word BiLSTM), `same` is the ULMFiT classifier's architecture without pretraining."""
    recipe_args = [*data_args(args), "--time-budget", str(seconds), "--epochs", "0",
                   "--patience", str(args.patience)]
    if name == "same":
        recipe_args += same_classifier_args(Path(args.out) / "classifier")
    r = run_recipe("sentiment.py", recipe_args, f"{args.out}-scratch-{name}")
    m = r["metrics"]
    return {"command": r["command"], "total_seconds": r["total_seconds"], "val": pick(m["val"]),
            "test": pick(m["test"]), "epochs": max(x["epoch"] for x in r["log"] if "val" in x),
            **{k: r[k] for k in TRAINING_SUMMARY}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--unlabeled-data", nargs="+", help="pretraining text (one or more sources)")
    p.add_argument("--init-from", help="skip pretraining: start from this language-model run")
    p.add_argument("--init-from-seconds", type=float, default=0.0,
                   help="wall time the --init-from run took; added to the total (and so to the "
                        "baseline's budget)")
    p.add_argument("--data", required=True)
    p.add_argument("--val-data")
    p.add_argument("--test-data", required=True)
    p.add_argument("--budgets", nargs=3, type=float, default=[3000, 450, 1050],
                   metavar=("PRETRAIN", "LM", "CLASSIFIER"), help="seconds for each stage")
    p.add_argument("--baselines", nargs="*", choices=BASELINES, default=list(BASELINES),
                   help="from-scratch classifiers to compare with (none: pass the flag alone)")
    p.add_argument("--ulmfit-result", help="skip the recipe: the {\"ulmfit\": ...} JSON line an earlier run "
                                           "of this benchmark wrote to stderr, with its run folders in --out")
    p.add_argument("--patience", type=int, default=4, help="the baseline's early stopping, in epochs")
    p.add_argument("--out", default="runs/bench-ulmfit")
    p.add_argument("extra", nargs="*", help="more finetune-recipe flags, after --")
    args = p.parse_args()
    if not (args.unlabeled_data or args.init_from or args.ulmfit_result):
        p.error("pass --unlabeled-data SOURCE..., --init-from LM_RUN or --ulmfit-result FILE")
    if args.ulmfit_result:  # the recipe already ran: compare its result with the baselines
        ulmfit = json.loads(Path(args.ulmfit_result).read_text())["ulmfit"]
    else:
        ulmfit = run_ulmfit(args)
        print(json.dumps({"ulmfit": ulmfit}), file=sys.stderr, flush=True)  # kept if a baseline fails
    result = {"benchmark": "ulmfit_quality", "ulmfit": ulmfit}
    for name in args.baselines:
        base = run_baseline(args, name, ulmfit["total_seconds"])
        result[f"scratch_{name}"] = base
        result[f"gain_over_scratch_{name}_points"] = round(
            100 * (ulmfit["test"]["accuracy"] - base["test"]["accuracy"]), 2)
        print(json.dumps({name: base}), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
