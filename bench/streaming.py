"""A corpus read as a stream (--streaming) against the same corpus read as a file.

    python bench/streaming.py --data PATH/TO/input.txt --size-mb 200

Builds, in a temporary folder never kept, a corpus of --size-mb megabytes from --data's
paragraphs (repeated in order): once as one .txt file and once as a dataset laid out as
the Hub lays it out (--shards Parquet files under data/, one row per paragraph, and a
validation split). Trains the same character LSTM on each for --steps steps, one after the
other, each in a child process with its own empty Hugging Face cache, and prints JSON per
mode: the wall seconds and those spent outside the training steps (a file is tokenized
whole first, a stream as it trains), median tokens/s, validation loss, the child's peak resident memory, and the disk it wrote
(run folder, token cache, Hugging Face cache).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipe_run import read_run

MEASURED = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def build(source: Path, size_mb: float, shards: int, root: Path) -> tuple[Path, Path, Path]:
    """(corpus.txt, the Hub-layout folder, val.txt): the same rows in the same order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paragraphs = [p for p in source.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    val, train = paragraphs[:200], paragraphs[200:]
    target, rows, size = size_mb * 2**20, [], 0
    while size < target:
        rows.append(train[len(rows) % len(train)])
        size += len(rows[-1].encode("utf-8")) + 1
    (root / "hub" / "data").mkdir(parents=True)
    per = -(-len(rows) // shards)
    for s in range(shards):
        pq.write_table(pa.table({"text": rows[s * per:(s + 1) * per]}),
                       root / "hub" / "data" / f"train-{s:05d}-of-{shards:05d}.parquet")
    pq.write_table(pa.table({"text": val}), root / "hub" / "data" / "validation-00000-of-00001.parquet")
    (root / "corpus.txt").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    (root / "val.txt").write_text("".join(r + "\n" for r in val), encoding="utf-8")
    return root / "corpus.txt", root / "hub", root / "val.txt"


def megabytes(path: Path) -> float:
    """A file's size, or a folder's files' together (0 if it does not exist), in MiB."""
    files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


def train(mode: str, data: Path, val: Path, root: Path, args) -> dict:
    out, cache = root / f"run-{mode}", root / f"hf-{mode}"
    cmd = ["-m", "textrnn", "train-lm", "--data", str(data), "--val-data", str(val),
           "--max-steps", str(args.steps), "--eval-every", str(args.steps), "--save-every",
           str(args.steps), "--hidden-size", str(args.hidden_size), "--batch-size", "64",
           "--bptt", "128", "--warmup-steps", "20", "--precision", "fp32", "--out", str(out),
           "--quiet", *(["--streaming"] if mode == "stream" else [])]
    env = {**os.environ, "HF_HOME": str(cache)}
    start = time.perf_counter()
    job = subprocess.run([sys.executable, "-c", MEASURED, sys.executable, *cmd],
                         capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if job.returncode != 0:
        sys.exit(f"{mode} failed: {job.stderr.strip().splitlines()[-1:]}")
    run = read_run(out)
    return {"command": "python " + " ".join(cmd).replace(str(root), "TMP"),
            "wall_seconds": round(wall, 1),
            # reading, tokenizing and the final evaluation: all but the training steps
            "seconds_not_training": round(wall - run["train_seconds"], 1),
            "steps": run["steps"], "median_tokens_per_s": run["median_tokens_per_s"],
            "train_seconds": run["train_seconds"],
            "val_loss": round(run["metrics"]["val"]["loss"], 4),
            "peak_rss_mb": round(int(job.stdout.split()[-1]) / 1024),
            "run_folder_mb": megabytes(out), "hf_cache_mb": megabytes(cache)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, type=Path, help="a text file (e.g. Tiny Shakespeare)")
    p.add_argument("--size-mb", type=float, default=200.0)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--hidden-size", type=int, default=256)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus, hub, val = build(args.data, args.size_mb, args.shards, root)
        result = {"benchmark": "streaming", "corpus_mb": megabytes(corpus), "shards": args.shards}
        for mode, data in (("file", corpus), ("stream", hub)):
            result[mode] = train(mode, data, hub if mode == "stream" else val, root, args)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
