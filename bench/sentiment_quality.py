"""Sentiment-classification quality within a wall-time budget (SST-2, IMDb), beside the
linear baselines a recurrent model must beat, all in one run.

    python bench/sentiment_quality.py --data SST2/train_phrases.tsv --val-data SST2/dev.tsv \
        --test-data SST2/test.tsv --time-budget 900 --seeds 0 1 2 --bootstrap 1000 \
        --out runs/bench-sst2
    python bench/sentiment_quality.py --data IMDB/train.parquet --test-data IMDB/test.parquet \
        --time-budget 1800 --out runs/bench-imdb

Runs `recipes/sentiment.py` with its preset for real data (no pretrained embeddings), and
on the same splits (textrnn's own reader and its stratified validation hold-out) the
baselines of bench/text_baselines.py: NBSVM-bi (Wang & Manning 2012) and a TF-IDF logistic
regression. Prints JSON: validation and test accuracy / macro-F1 of the kept model (best
validation accuracy), its calibration, steps, throughput and seconds, each baseline's test
accuracy, and textrnn's lead over each in points (over the mean of --seeds' runs). With
--bootstrap N, the test ECE and Brier before and after temperature scaling with 95% bootstrap
intervals. `--baselines-only` skips the recipe; `--no-baselines` skips the baselines. Extra
arguments after `--` go to the recipe.
"""
import argparse
import functools
import json

from recipe_run import TRAINING_SUMMARY, run_recipe
from text_baselines import nbsvm_bi, tfidf_logreg

VAL_FRACTION, SEED = 0.1, 1234  # the recipe's defaults: its validation hold-out, its seed


@functools.lru_cache(maxsize=None)  # the baselines and the bootstrap read the same files
def splits(data: str, val_data: str | None, test_data: str):
    """names and (texts, ids) of train / validation / test, as a textrnn classifier reads them."""
    from textrnn.tasks.classify import LabelledDataConfig
    from textrnn.tasks.labelled_splits import load_splits

    cfg = LabelledDataConfig(data=data, val_data=val_data, test_data=test_data,
                             val_fraction=VAL_FRACTION)
    s = load_splits(cfg, SEED)
    return s.names, (s.train.texts, s.y_train), (s.val.texts, s.y_val), (s.test.texts, s.y_test)


def baselines(args) -> dict:
    names, train, val, test = splits(args.data, args.val_data, args.test_data)
    out = {"tfidf_logreg": tfidf_logreg(train, val, test)}
    if len(names) == 2:  # NBSVM is the paper's two-class model
        out["nbsvm_bi"] = nbsvm_bi(train, val, test)
    return out


def textrnn_run(args, seed: int | None = None) -> dict:
    recipe_args = ["--data", args.data, "--test-data", args.test_data,
                   "--time-budget", str(args.time_budget), *args.extra]
    if args.val_data:
        recipe_args[2:2] = ["--val-data", args.val_data]
    out = args.out if seed is None else f"{args.out}-seed{seed}"
    r = run_recipe("sentiment.py", recipe_args + ([] if seed is None else ["--seed", str(seed)]), out)
    m = r["metrics"]
    evals = [{"step": x["step"], "epoch": x["epoch"], "elapsed": x["elapsed"],
              "accuracy": round(x["val"]["accuracy"], 4)} for x in r["log"] if "val" in x]
    pick = lambda d: {k: round(d[k], 4) for k in ("accuracy", "macro_f1", "roc_auc", "ece", "brier",
                                                  "loss") if k in d}
    out_run = {"command": r["command"], "seed": seed, "val": pick(m["val"]), "test": pick(m["test"]),
               "test_examples": m["test"]["examples"], "calibration": m.get("calibration"),
               **{k: r[k] for k in (*TRAINING_SUMMARY, "total_seconds")},
               "evaluations": evals, "config": r["config"]}
    if args.bootstrap:
        out_run["calibration_interval"] = bootstrap_calibration(out, args, args.bootstrap)
    return out_run


def bootstrap_calibration(run_dir, args, n: int) -> dict:
    """ECE and Brier on the test set, raw and at the run's temperature, each with a 95%
    bootstrap interval (n resamples of the test examples, seed 0)."""
    import numpy as np
    import torch

    import textrnn
    from textrnn.calibration import brier_score, expected_calibration_error

    names, _, _, (texts, y) = splits(args.data, args.val_data, args.test_data)
    clf = textrnn.load(run_dir)
    y = np.asarray(y)
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(n)]
    out = {"resamples": n, "temperature": clf.temperature}
    for name, calibrated in (("raw", False), ("calibrated", True)):
        p = clf.predict_proba(texts, calibrated=calibrated)
        for measure, f in (("ece", expected_calibration_error), ("brier", brier_score)):
            values = sorted(f(torch.tensor(p[i]), torch.tensor(y[i])) for i in draws)
            out[f"{name}_{measure}"] = {"value": round(f(torch.tensor(p), torch.tensor(y)), 4),
                                        "interval_95": [round(values[int(0.025 * n)], 4),
                                                        round(values[int(0.975 * n) - 1], 4)]}
    return out


def summary(runs: list[dict]) -> dict:
    """Mean and spread (sample standard deviation, min, max) of the runs' test accuracy."""
    import statistics

    acc = [r["test"]["accuracy"] for r in runs]
    return {"seeds": [r["seed"] for r in runs], "test_accuracy": acc,
            "mean": round(statistics.mean(acc), 4),
            "stdev": round(statistics.stdev(acc), 4) if len(acc) > 1 else 0.0,
            "min": min(acc), "max": max(acc)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--val-data")
    p.add_argument("--test-data", required=True)
    p.add_argument("--time-budget", type=float, default=900.0)
    p.add_argument("--out", default="runs/bench-sentiment")
    p.add_argument("--baselines-only", action="store_true", help="skip the textrnn run")
    p.add_argument("--no-baselines", action="store_true", help="skip the linear baselines")
    p.add_argument("--seeds", nargs="*", type=int, help="one textrnn run per seed (--seed), their "
                                                        "mean and spread reported")
    p.add_argument("--bootstrap", type=int, default=0,
                   help="resamples for 95%% intervals of the test ECE and Brier (0: none)")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    result = {"benchmark": "sentiment_quality"}
    if not args.no_baselines:
        result["baselines"] = baselines(args)
    if not args.baselines_only:
        runs = [textrnn_run(args, seed) for seed in (args.seeds or [None])]
        result["textrnn"] = runs[0] if len(runs) == 1 else runs
        if len(runs) > 1:
            result["textrnn_summary"] = summary(runs)
        ours = result["textrnn_summary"]["mean"] if len(runs) > 1 else runs[0]["test"]["accuracy"]
        for name, base in result.get("baselines", {}).items():
            result[f"lead_over_{name}_points"] = round(100 * (ours - base["accuracy"]), 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
