"""Data-parallel speed: training tokens/s of the 2x512 character LSTM in 1 process against
N processes under torchrun, at the same global batch (64 x BPTT 128), side by side in one
run, reporting the ratio.

    python bench/ddp_speed.py --data input.txt                     # CPU: 1 x 2 threads vs 2 x 1 thread
    python bench/ddp_speed.py --data input.txt --device cuda --procs 8   # 1 GPU vs 8 GPUs

On a CPU the comparison is fair to the cores: one process with every thread against N
processes with threads / N each. Each configuration runs `--rounds` times in turns; the
figure is the median. Rates come from the run's own log (steps x batch x BPTT over the
elapsed training time between the first and last log lines, so start-up is excluded).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def rate(run_dir: Path, batch: int, bptt: int) -> float:
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if "tokens_per_s" in r]
    first, last = train[0], train[-1]
    return (last["step"] - first["step"]) * batch * bptt / (last["elapsed"] - first["elapsed"])


def train(args, procs: int, threads: int, out: Path) -> float:
    flags = ["train-lm", "--data", args.data, "--out", str(out), "--overwrite", "--quiet",
             "--hidden-size", "512", "--num-layers", "2", "--batch-size", str(args.batch_size),
             "--bptt", str(args.bptt), "--max-steps", str(args.steps), "--log-every", "5",
             "--eval-every", "100000", "--save-every", "100000", "--val-fraction", "0.01",
             "--device", args.device, "--precision", args.precision]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}"] if procs > 1 else []
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    res = subprocess.run([sys.executable, *launcher, "-m", "textrnn", *flags], env=env,
                         capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"training with {procs} process(es) failed: {res.stderr.strip().splitlines()[-3:]}")
    return rate(out, args.batch_size, args.bptt)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a text file (e.g. Tiny Shakespeare's input.txt)")
    p.add_argument("--procs", type=int, default=2, help="processes of the data-parallel run")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads in all")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    gpu = args.device != "cpu"
    one_threads = args.threads if not gpu else 1
    many_threads = max(1, args.threads // args.procs) if not gpu else 1
    single, parallel = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):  # in turns, so drift on a shared machine hits both
            single.append(train(args, 1, one_threads, Path(tmp) / "one"))
            parallel.append(train(args, args.procs, many_threads, Path(tmp) / "many"))
    one, many = statistics.median(single), statistics.median(parallel)
    print(json.dumps({
        "benchmark": "ddp_speed", "model": "char LSTM 2x512", "device": args.device,
        "precision": args.precision, "global_batch": args.batch_size, "bptt": args.bptt,
        "steps": args.steps, "rounds": args.rounds,
        "one_process": {"threads": one_threads, "tokens_per_s": round(one),
                        "rounds": [round(r) for r in single]},
        "data_parallel": {"processes": args.procs, "threads_each": many_threads,
                          "tokens_per_s": round(many), "rounds": [round(r) for r in parallel]},
        "scaling_ratio": round(many / one, 3),
        "command": "python bench/ddp_speed.py " + " ".join(sys.argv[1:]),
    }, indent=2))


if __name__ == "__main__":
    main()
