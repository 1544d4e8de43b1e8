"""Shared by the quality benchmarks: run a recipe or a `textrnn` command as a user would, then
read its run folder."""
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAINING_SUMMARY = ("steps", "median_tokens_per_s", "train_seconds")  # keys of `read_run`


def run_recipe(recipe: str, args: list[str], out: str, run_dir: str | None = None) -> dict:
    """Run recipes/<recipe> with `args` plus --out/--overwrite/--quiet; exit on failure.

    Returns the command, stdout, wall seconds and `read_run` of `run_dir` (default: out).
    """
    cmd = [sys.executable, str(ROOT / "recipes" / recipe), *args, "--out", out, "--overwrite", "--quiet"]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"recipe failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    return {"command": " ".join(cmd[1:]), "stdout": res.stdout, "total_seconds": round(total, 1),
            **read_run(run_dir or out)}


def read_run(run_dir) -> dict:
    """metrics.json, config.json, the log records and a summary of the training records
    (steps, median tokens/s, training seconds) of a run folder."""
    run = Path(run_dir)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if "tokens_per_s" in r]
    return {
        "metrics": json.loads((run / "metrics.json").read_text()),
        "config": json.loads((run / "config.json").read_text()),
        "log": log,
        "steps": train[-1]["step"] if train else 0,
        "median_tokens_per_s": sorted(r["tokens_per_s"] for r in train)[len(train) // 2] if train else 0,
        "train_seconds": train[-1]["elapsed"] if train else 0,
    }


def run_command(args: list[str]) -> float:
    """Run `textrnn ARGS` (this Python's); exit on failure; return the wall seconds."""
    cmd = [sys.executable, "-m", "textrnn", *args]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"textrnn failed ({res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start
