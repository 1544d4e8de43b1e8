"""Sentiment-classification quality within a wall-time budget (SST-2, IMDb).

    python bench/sentiment_quality.py --data SST2/train_phrases.tsv --eval-data SST2/dev.tsv \
        --test-data SST2/test.tsv --time-budget 900 --out runs/bench-sst2
    python bench/sentiment_quality.py --data IMDB/train.parquet --test-data IMDB/test.parquet \
        --time-budget 1800 --out runs/bench-imdb

Runs `recipes/sentiment.py` with its preset for real data (no pretrained embeddings), then
prints JSON: validation and test accuracy / macro-F1 of the kept model (best validation
accuracy), steps, throughput and seconds. Extra arguments after `--` go to the recipe.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--eval-data")
    p.add_argument("--test-data", required=True)
    p.add_argument("--time-budget", type=float, default=900.0)
    p.add_argument("--out", default="runs/bench-sentiment")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    cmd = [sys.executable, str(ROOT / "recipes" / "sentiment.py"), "--data", args.data,
           "--test-data", args.test_data, "--time-budget", str(args.time_budget),
           "--out", args.out, "--overwrite", "--quiet", *args.extra]
    if args.eval_data:
        cmd[4:4] = ["--eval-data", args.eval_data]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"recipe failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    run = Path(args.out)
    metrics = json.loads((run / "metrics.json").read_text())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if "tokens_per_s" in r]
    evals = [{"step": r["step"], "epoch": r["epoch"], "elapsed": r["elapsed"],
              "accuracy": round(r["val"]["accuracy"], 4)} for r in log if "val" in r]
    pick = lambda m: {k: round(m[k], 4) for k in ("accuracy", "macro_f1", "roc_auc") if k in m}
    print(json.dumps({
        "benchmark": "sentiment_quality", "command": " ".join(cmd[1:]),
        "val": pick(metrics["val"]), "test": pick(metrics["test"]),
        "test_examples": metrics["test"]["examples"],
        "steps": train[-1]["step"] if train else 0,
        "median_tokens_per_s": sorted(r["tokens_per_s"] for r in train)[len(train) // 2] if train else 0,
        "train_seconds": train[-1]["elapsed"] if train else 0, "total_seconds": round(total, 1),
        "evaluations": evals, "config": json.loads((run / "config.json").read_text()),
    }, indent=1))


if __name__ == "__main__":
    main()
