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
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--time-budget", type=float, default=900.0)
    p.add_argument("--out", default="runs/bench-lm-quality")
    p.add_argument("extra", nargs="*", help="more recipe flags, after --")
    args = p.parse_args()
    cmd = [sys.executable, str(ROOT / "recipes" / "generate.py"), "--data", args.data,
           "--time-budget", str(args.time_budget), "--out", args.out, "--overwrite", "--quiet",
           "--num-samples", "1", "--length", "300", *args.extra]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"recipe failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    run = Path(args.out)
    val = json.loads((run / "metrics.json").read_text())["val"]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if "tokens_per_s" in r]
    evals = [{"step": r["step"], "elapsed": r["elapsed"], "loss": round(r["val"]["loss"], 4)}
             for r in log if "val" in r]
    print(json.dumps({
        "benchmark": "lm_quality", "command": " ".join(cmd[1:]),
        "val_loss": round(val["loss"], 4), "val_bpc": round(val["bpc"], 4),
        "steps": train[-1]["step"] if train else 0,
        "median_tokens_per_s": sorted(r["tokens_per_s"] for r in train)[len(train) // 2] if train else 0,
        "train_seconds": train[-1]["elapsed"] if train else 0, "total_seconds": round(total, 1),
        "evaluations": evals, "config": json.loads((run / "config.json").read_text()),
        "sample": res.stdout.split("----- sample 1 -----")[-1].strip()[:300],
    }, indent=1))


if __name__ == "__main__":
    main()
