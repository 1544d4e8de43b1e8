"""Adaptive softmax against the full softmax: the same word language model, the same text and
the same training time, side by side.

    python bench/adaptive_softmax.py --data imdb/train.parquet --time-budget 300

Each round trains `recipes/generate.py` twice on --data with a word tokenizer: once with
the full softmax, once with `--adaptive-cutoffs` (the order alternates between rounds,
so drift of a shared machine hits both alike). The model is the finetune recipe's
language model: a 3x400 AWD-LSTM with tied weights, batch 64, BPTT 70. Prints JSON:
per run the training tokens/s, steps and the validation perplexity of the kept model
(the last 2% of --data, read as one stream), then the speed ratio and both
perplexities. Extra arguments after `--` go to the recipe unchanged.
"""
import argparse
import json
import math
import statistics
import sys

from recipe_run import TRAINING_SUMMARY, run_recipe

MODEL = ["--tokenizer", "word", "--lowercase", "--strip-html", "--num-layers", "3",
         "--embed-dim", "400", "--hidden-size", "400", "--tie-weights", "--dropout", "0.25",
         "--embed-dropout", "0.05", "--weight-drop", "0.2", "--batch-size", "64", "--bptt", "70",
         "--lr", "3e-3", "--eval-every", "200", "--save-every", "200", "--val-fraction", "0.02",
         "--num-samples", "1", "--length", "30"]


def one_run(args, cutoffs: list[str], out: str) -> dict:
    r = run_recipe("generate.py", ["--data", *args.data, "--vocab-size", str(args.vocab_size),
                                   "--time-budget", str(args.time_budget), *MODEL,
                                   "--adaptive-cutoffs", *cutoffs, *args.extra], out)
    val = r["metrics"]["val"]
    print(f"{'adaptive' if cutoffs else 'full'}: {r['median_tokens_per_s']} tokens/s, "
          f"perplexity {val['perplexity']:.1f}", file=sys.stderr, flush=True)
    return {"cutoffs": r["config"]["adaptive_cutoffs"], "perplexity": round(val["perplexity"], 2),
            "val_loss": round(val["loss"], 4), **{k: r[k] for k in TRAINING_SUMMARY}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, nargs="+")
    p.add_argument("--time-budget", type=float, default=300.0, help="training seconds per run")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--vocab-size", type=int, default=16000)
    p.add_argument("--cutoffs", nargs="+", default=["2000", "8000"])
    p.add_argument("--out", default="runs/bench-adaptive")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    runs = {"full": [], "adaptive": []}
    for r in range(args.rounds):
        order = ("full", "adaptive") if r % 2 == 0 else ("adaptive", "full")
        for name in order:
            cutoffs = args.cutoffs if name == "adaptive" else []
            runs[name].append(one_run(args, cutoffs, f"{args.out}/{name}-{r + 1}"))
    speed = [a["median_tokens_per_s"] / f["median_tokens_per_s"] for f, a in zip(runs["full"], runs["adaptive"])]
    ppl = {name: statistics.median(x["perplexity"] for x in rs) for name, rs in runs.items()}
    print(json.dumps({
        "benchmark": "adaptive_softmax", "data": args.data, "time_budget": args.time_budget,
        "vocab_size": args.vocab_size, "runs": runs,
        "speed_ratio": round(statistics.median(speed), 3), "speed_ratio_per_round": [round(s, 3) for s in speed],
        "perplexity_full": ppl["full"], "perplexity_adaptive": ppl["adaptive"],
        "val_loss_difference": round(math.log(ppl["adaptive"]) - math.log(ppl["full"]), 4),
    }, indent=1))


if __name__ == "__main__":
    main()
