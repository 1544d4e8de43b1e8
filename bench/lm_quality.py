"""Language-model quality within a wall-time budget (e.g. Tiny Shakespeare, 15 minutes).

    python bench/lm_quality.py --data PATH/TO/input.txt --time-budget 900 --out runs/bench-shakespeare

Runs `recipes/generate.py` with its large-corpus preset on --data (first 90% train, last
10% validation, as nanoGPT splits), then prints JSON: the validation loss (nats/char) of
the kept model read as one stream, bits per character, training steps, throughput and
the seconds spent in training (the budget) and in total. Extra arguments after `--` go to
the recipe unchanged.
"""
import argparse
import json

from recipe_run import TRAINING_SUMMARY, run_recipe


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--time-budget", type=float, default=900.0)
    p.add_argument("--out", default="runs/bench-lm-quality")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    r = run_recipe("generate.py", ["--data", args.data, "--time-budget", str(args.time_budget),
                                   "--num-samples", "1", "--length", "300", *args.extra], args.out)
    val = r["metrics"]["val"]
    evals = [{"step": x["step"], "elapsed": x["elapsed"], "loss": round(x["val"]["loss"], 4)}
             for x in r["log"] if "val" in x]
    print(json.dumps({
        "benchmark": "lm_quality", "command": r["command"],
        "val_loss": round(val["loss"], 4), "val_bpc": round(val["bpc"], 4),
        **{k: r[k] for k in (*TRAINING_SUMMARY, "total_seconds")},
        "evaluations": evals, "config": r["config"],
        "sample": r["stdout"].split("----- sample 1 -----")[-1].strip()[:300],
    }, indent=1))


if __name__ == "__main__":
    main()
