"""Sentiment-classification quality within a wall-time budget (SST-2, IMDb).

    python bench/sentiment_quality.py --data SST2/train_phrases.tsv --val-data SST2/dev.tsv \
        --test-data SST2/test.tsv --time-budget 900 --out runs/bench-sst2
    python bench/sentiment_quality.py --data IMDB/train.parquet --test-data IMDB/test.parquet \
        --time-budget 1800 --out runs/bench-imdb

Runs `recipes/sentiment.py` with its preset for real data (no pretrained embeddings), then
prints JSON: validation and test accuracy / macro-F1 of the kept model (best validation
accuracy), steps, throughput and seconds. Extra arguments after `--` go to the recipe.
"""
import argparse
import json

from recipe_run import TRAINING_SUMMARY, run_recipe


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--val-data")
    p.add_argument("--test-data", required=True)
    p.add_argument("--time-budget", type=float, default=900.0)
    p.add_argument("--out", default="runs/bench-sentiment")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    recipe_args = ["--data", args.data, "--test-data", args.test_data,
                   "--time-budget", str(args.time_budget), *args.extra]
    if args.val_data:
        recipe_args[2:2] = ["--val-data", args.val_data]
    r = run_recipe("sentiment.py", recipe_args, args.out)
    m = r["metrics"]
    evals = [{"step": x["step"], "epoch": x["epoch"], "elapsed": x["elapsed"],
              "accuracy": round(x["val"]["accuracy"], 4)} for x in r["log"] if "val" in x]
    pick = lambda d: {k: round(d[k], 4) for k in ("accuracy", "macro_f1", "roc_auc") if k in d}
    print(json.dumps({
        "benchmark": "sentiment_quality", "command": r["command"],
        "val": pick(m["val"]), "test": pick(m["test"]), "test_examples": m["test"]["examples"],
        **{k: r[k] for k in (*TRAINING_SUMMARY, "total_seconds")},
        "evaluations": evals, "config": r["config"],
    }, indent=1))


if __name__ == "__main__":
    main()
