"""Sentiment-classification quality within a wall-time budget (SST-2, IMDb), beside the
linear baselines a recurrent model must beat, all in one run.

    python bench/sentiment_quality.py --data SST2/train_phrases.tsv --val-data SST2/dev.tsv \
        --test-data SST2/test.tsv --time-budget 900 --out runs/bench-sst2
    python bench/sentiment_quality.py --data IMDB/train.parquet --test-data IMDB/test.parquet \
        --time-budget 1800 --out runs/bench-imdb

Runs `recipes/sentiment.py` with its preset for real data (no pretrained embeddings), and
on the same splits (textrnn's own reader and its stratified validation hold-out) the
baselines of bench/text_baselines.py: NBSVM-bi (Wang & Manning 2012) and a TF-IDF logistic
regression. Prints JSON: validation and test accuracy / macro-F1 of the kept model (best
validation accuracy), its calibration, steps, throughput and seconds, each baseline's test
accuracy, and textrnn's lead over each in points. `--baselines-only` skips the recipe;
`--no-baselines` skips the baselines. Extra arguments after `--` go to the recipe.
"""
import argparse
import json

from recipe_run import TRAINING_SUMMARY, run_recipe
from text_baselines import nbsvm_bi, tfidf_logreg

VAL_FRACTION, SEED = 0.1, 1234  # the recipe's defaults: its validation hold-out, its seed


def splits(args):
    """(texts, ids) of train / validation / test, as a textrnn classifier reads them."""
    from textrnn.tasks.classify import LabelledDataConfig
    from textrnn.tasks.labelled_splits import load_splits

    cfg = LabelledDataConfig(data=args.data, val_data=args.val_data, test_data=args.test_data,
                             val_fraction=VAL_FRACTION)
    s = load_splits(cfg, SEED)
    return s.names, (s.train.texts, s.y_train), (s.val.texts, s.y_val), (s.test.texts, s.y_test)


def baselines(args) -> dict:
    names, train, val, test = splits(args)
    out = {"tfidf_logreg": tfidf_logreg(train, val, test)}
    if len(names) == 2:  # NBSVM is the paper's two-class model
        out["nbsvm_bi"] = nbsvm_bi(train, val, test)
    return out


def textrnn_run(args) -> dict:
    recipe_args = ["--data", args.data, "--test-data", args.test_data,
                   "--time-budget", str(args.time_budget), *args.extra]
    if args.val_data:
        recipe_args[2:2] = ["--val-data", args.val_data]
    r = run_recipe("sentiment.py", recipe_args, args.out)
    m = r["metrics"]
    evals = [{"step": x["step"], "epoch": x["epoch"], "elapsed": x["elapsed"],
              "accuracy": round(x["val"]["accuracy"], 4)} for x in r["log"] if "val" in x]
    pick = lambda d: {k: round(d[k], 4) for k in ("accuracy", "macro_f1", "roc_auc", "ece", "brier",
                                                  "loss") if k in d}
    return {"command": r["command"], "val": pick(m["val"]), "test": pick(m["test"]),
            "test_examples": m["test"]["examples"], "calibration": m.get("calibration"),
            **{k: r[k] for k in (*TRAINING_SUMMARY, "total_seconds")},
            "evaluations": evals, "config": r["config"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--val-data")
    p.add_argument("--test-data", required=True)
    p.add_argument("--time-budget", type=float, default=900.0)
    p.add_argument("--out", default="runs/bench-sentiment")
    p.add_argument("--baselines-only", action="store_true", help="skip the textrnn run")
    p.add_argument("--no-baselines", action="store_true", help="skip the linear baselines")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    result = {"benchmark": "sentiment_quality"}
    if not args.no_baselines:
        result["baselines"] = baselines(args)
    if not args.baselines_only:
        result["textrnn"] = ours = textrnn_run(args)
        for name, base in result.get("baselines", {}).items():
            result[f"lead_over_{name}_points"] = round(100 * (ours["test"]["accuracy"] - base["accuracy"]), 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
