"""--size auto against the fixed preset, on an idle machine and on one core beside a busy one.

    python bench/size_auto.py --data PATH/TO/tiny_shakespeare.txt --time-budget 900 --out runs/bench-size

Runs `recipes/generate.py` with its preset for a real corpus, once with its 2x768 LSTM fixed
(`--size fixed`) and once with `--size auto` (which times its smaller candidates on the
machine first and keeps the largest that takes --size-steps steps in the budget; the
preset's default since this benchmark measured it), under two conditions:
  idle        on both cores;
  other_busy  pinned to core 0 (`taskset -c 0`) while a spinning process holds core 1.
Each pair runs side by side in one sitting, so the machine is the same for both. Prints
JSON: per condition and mode the validation loss (nats/char, the kept model read as one
stream), steps, median tokens/s, the size chosen, and auto's lead over the preset in nats
(positive: auto is better).
"""
import argparse
import json
import subprocess
import sys
import time
from contextlib import nullcontext

from first_run import CONDITIONS, busy_core
from recipe_run import ROOT, TRAINING_SUMMARY, read_run


def run_generate(args, core, size_auto: bool, out: str) -> dict:
    cmd = [sys.executable, str(ROOT / "recipes" / "generate.py"), "--data", args.data, "--time-budget",
           str(args.time_budget), "--num-samples", "1", "--length", "100", "--out", out, "--overwrite",
           "--quiet", "--size", "auto" if size_auto else "fixed"]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"recipe failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    r = read_run(out)
    sizing = r["metrics"].get("sizing") or {}
    return {"command": " ".join(cmd[cmd.index(sys.executable) + 1:]),
            "val_loss": round(r["metrics"]["val"]["loss"], 4), "size": sizing.get("chosen", "fixed 2x768"),
            "hidden_size": r["config"]["encoder"]["hidden_size"],
            "timed": sizing.get("timed"), **{k: r[k] for k in TRAINING_SUMMARY},
            "wall_seconds": round(time.perf_counter() - start, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--time-budget", type=float, default=900.0)
    p.add_argument("--conditions", nargs="+", choices=("idle", "other_busy"), default=["idle", "other_busy"])
    p.add_argument("--modes", nargs="+", choices=("preset", "auto"), default=["preset", "auto"],
                   help="both by default; one alone to repeat it after a change to the rule")
    p.add_argument("--out", default="runs/bench-size")
    args = p.parse_args()
    result = {"benchmark": "size_auto", "time_budget": args.time_budget}
    for condition in args.conditions:
        core, spin = CONDITIONS[condition]
        with busy_core(spin) if spin is not None else nullcontext():
            runs = {mode: run_generate(args, core, mode == "auto", f"{args.out}-{condition}-{mode}")
                    for mode in args.modes}
        if len(runs) == 2:
            runs["auto_lead_nats"] = round(runs["preset"]["val_loss"] - runs["auto"]["val_loss"], 4)
        result[condition] = runs
        print(json.dumps({condition: runs}), file=sys.stderr, flush=True)  # kept if a later run fails
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
