"""Small labelled sets: a textrnn classifier at its small-data defaults against Kim's (2014)
CNN-rand, both trained in this run on the same splits, over several seeds.

    python bench/small_data.py --shared SHARED_DATA --time-budget 240 --seeds 0 1 2 \
        --out runs/bench-small

The sets (bench/small_sets.py): SST-2 subsets of 2,000, 4,000 and 8,000 examples, and a
five-class set of single sentences labelled by their source. For each set and seed,
`recipes/sentiment.py --data TRAIN --val-data VAL --test-data TEST --time-budget S --seed N`
(every other setting the recipe's own for that many examples) and bench/cnn_rand.py with
the same budget and seed, on the splits as textrnn reads them. Prints JSON: per set, each
run's test accuracy, seconds and epochs, then the mean, sample standard deviation, min and
max of each model's test accuracy over the seeds and textrnn's lead in points. `--sets`
picks some of the sets; extra arguments after `--` go to the recipe.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

from cnn_rand import train_cnn_rand
from recipe_run import TRAINING_SUMMARY, run_recipe
from sentiment_quality import splits
from small_sets import build


def textrnn_run(paths, seed: int, args, out: str) -> dict:
    train, val, test = paths
    r = run_recipe("sentiment.py", ["--data", train, "--val-data", val, "--test-data", test,
                                    "--time-budget", str(args.time_budget), "--seed", str(seed),
                                    *args.extra], out)
    m = r["metrics"]
    epochs = max((x["epoch"] for x in r["log"] if "val" in x), default=0)
    return {"accuracy": round(m["test"]["accuracy"], 4), "val_accuracy": round(m["val"]["accuracy"], 4),
            "epochs": epochs, "seconds": r["total_seconds"],
            **{k: r[k] for k in TRAINING_SUMMARY}, "command": r["command"]}


def spread(values: list[float]) -> dict:
    return {"mean": round(statistics.mean(values), 4),
            "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def one_set(name: str, paths, args) -> dict:
    names, train, val, test = splits(*paths)  # given validation: no hold-out, no seed
    runs = {"textrnn": [], "cnn_rand": []}
    for seed in args.seeds:
        runs["textrnn"].append(textrnn_run(paths, seed, args, f"{args.out}/{name}-seed{seed}"))
        runs["cnn_rand"].append(train_cnn_rand(train, val, test, len(names), seed, args.time_budget))
        print(name, seed, {m: rs[-1]["accuracy"] for m, rs in runs.items()}, file=sys.stderr, flush=True)
    summary = {model: spread([r["accuracy"] for r in rs]) for model, rs in runs.items()}
    return {"classes": names, "examples": {"train": len(train[1]), "val": len(val[1]), "test": len(test[1])},
            "runs": runs, "summary": summary,
            "textrnn_lead_points": round(100 * (summary["textrnn"]["mean"] - summary["cnn_rand"]["mean"]), 2)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared", required=True, help="folder holding sst2/, imdb/, multi30k/, "
                                                   "ud_ewt/ and tinyshakespeare/")
    p.add_argument("--time-budget", type=float, default=240.0)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--sets", nargs="*", help="some of sst2_2000 sst2_4000 sst2_8000 sources_5")
    p.add_argument("--out", default="runs/bench-small")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    sets = build(Path(args.shared), Path(args.out) / "data")
    result = {"benchmark": "small_data", "time_budget": args.time_budget, "seeds": args.seeds, "sets": {}}
    for name, paths in sets.items():
        if not args.sets or name in args.sets:
            result["sets"][name] = one_set(name, paths, args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
