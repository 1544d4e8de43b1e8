"""Peak memory and tokenization speed on a large corpus.

    python bench/memory.py --data PATH/TO/input.txt --size-mb 200

Builds a corpus of --size-mb megabytes by repeating --data (in a temporary folder, never
kept), then:
1. times HF `tokenizers` batch encoding of it (textrnn's `encode_stream`, straight to a
   memory-mapped file) against encoding one line at a time, on the same first megabytes;
2. trains a small character LSTM on the whole corpus for a few steps in a child process
   and reads that process's peak resident memory.
Prints JSON with the token array's size, the model's size and peak RSS / (tokens + model).
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import textrnn
from textrnn.data import read_text_file
from textrnn.tokenization import encode


def build_corpus(source: Path, size_mb: float, path: Path) -> int:
    piece = read_text_file(source)
    target = int(size_mb * 1e6)
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            f.write(piece)
            written += len(piece)
    return written


def tokenization_speed(text: str, sample_mb: float, tmp: Path) -> dict:
    tok = textrnn.train_tokenizer("char", [text[: 2_000_000]])
    sample = text[: int(sample_mb * 1e6)]
    t0 = time.perf_counter()
    ids = textrnn.encode_stream(tok, sample, tmp / "ids.bin")
    batched = time.perf_counter() - t0
    lines = sample.splitlines(keepends=True)
    t0 = time.perf_counter()
    n = sum(len(encode(tok, line)) for line in lines)
    one_by_one = time.perf_counter() - t0
    assert n == len(ids)
    return {"sample_chars": len(sample), "batched_tokens_per_s": round(len(ids) / batched),
            "line_by_line_tokens_per_s": round(n / one_by_one),
            "speedup": round(one_by_one / batched, 2)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--size-mb", type=float, default=200.0)
    p.add_argument("--speed-sample-mb", type=float, default=20.0)
    p.add_argument("--hidden-size", type=int, default=256)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.txt"
        chars = build_corpus(Path(args.data), args.size_mb, corpus)
        speed = tokenization_speed(read_text_file(corpus), args.speed_sample_mb, tmp)
        out = tmp / "run"
        cmd = [sys.executable, "-m", "textrnn", "train-lm", "--data", str(corpus), "--out", str(out),
               "--max-steps", "30", "--eval-every", "1000", "--save-every", "1000",
               "--hidden-size", str(args.hidden_size), "--quiet", "--val-fraction", "0.001"]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            sys.exit(f"training failed: {res.stderr.strip().splitlines()[-1:]}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: KiB
        token_bytes = sum(f.stat().st_size for f in (out / "tokens").glob("*.bin"))
        model_bytes = (out / "model.safetensors").stat().st_size
    print(json.dumps({
        "benchmark": "memory", "corpus_chars": chars, "tokenization": speed,
        "token_array_bytes": token_bytes, "model_bytes": model_bytes, "peak_rss_bytes": peak,
        "peak_over_tokens_plus_model": round(peak / (token_bytes + model_bytes), 2),
        "train_run_seconds": round(wall, 1), "command": " ".join(cmd[1:]),
    }, indent=1))


if __name__ == "__main__":
    main()
