"""The rule --size auto picks by: how many tokens per parameter a time budget should train.

    python bench/size_rule.py --data PATH/TO/tiny_shakespeare.txt --budgets 100 300 --out runs/bench-rule

Trains `recipes/generate.py`'s real-corpus preset at each of the character LM's candidate
sizes (`textrnn.tasks.lm.SIZES`, each with its own dropout and peak rate) for each time
budget, one run at a time on the idle machine, and reads each run's validation loss, the
tokens it trained on and its parameter count. For each budget it names the best size and
the tokens per parameter that size trained on: if that ratio is roughly the same across
budgets, "keep the largest model that still trains R tokens per parameter" is a rule that
carries from one machine (or budget) to another, where "take N steps" would not. Prints
JSON: per budget and size the loss, steps, tokens, parameters and tokens per parameter; per
budget the best size and its ratio; and the ratio the sizes within 0.01 nats of the best span.
"""
import argparse
import json
import sys
from pathlib import Path

from recipe_run import TRAINING_SUMMARY, run_recipe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from textrnn.model_card import parameters  # noqa: E402  (the weights' count from the header)
from textrnn.tasks.lm import CORPUS, SIZES  # noqa: E402

NEAR_BEST = 0.01  # nats: sizes this close to the best count as equally good


def train_one(args, budget: float, name: str) -> dict:
    size = SIZES[name]
    flags = ["--data", args.data, "--time-budget", str(budget), "--size", "fixed", "--num-samples", "1",
             "--length", "50", *[x for k, v in size.items() for x in (f"--{k.replace('_', '-')}", str(v))]]
    out = f"{args.out}-{int(budget)}-{name}"
    r = run_recipe("generate.py", flags, out)
    steps = max(rec["step"] for rec in r["log"] if "step" in rec)  # the last, evaluation included
    tokens = steps * CORPUS["batch_size"] * CORPUS["bptt"]
    params = parameters(Path(out))
    return {"hidden_size": size["hidden_size"], "val_loss": round(r["metrics"]["val"]["loss"], 4),
            "tokens": tokens, "parameters": params, "tokens_per_parameter": round(tokens / params, 3),
            **{k: r[k] for k in TRAINING_SUMMARY}, "steps": steps, "command": r["command"]}


def summary(runs: dict) -> dict:
    best = min(runs, key=lambda n: runs[n]["val_loss"])
    near = [n for n in runs if runs[n]["val_loss"] - runs[best]["val_loss"] <= NEAR_BEST]
    ratios = [runs[n]["tokens_per_parameter"] for n in near]
    return {"best": best, "best_tokens_per_parameter": runs[best]["tokens_per_parameter"],
            "near_best": near, "near_best_ratio_range": [min(ratios), max(ratios)]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--budgets", type=float, nargs="+", default=[100.0, 300.0])
    p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["small", "large", "larger", "largest"])
    p.add_argument("--out", default="runs/bench-rule")
    args = p.parse_args()
    result = {"benchmark": "size_rule", "tokens_per_step": CORPUS["batch_size"] * CORPUS["bptt"]}
    for budget in args.budgets:
        runs = {}
        for name in args.sizes:
            runs[name] = train_one(args, budget, name)
            print(json.dumps({budget: {name: runs[name]}}), file=sys.stderr, flush=True)
        result[str(int(budget))] = {"runs": runs, **summary(runs)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
