"""One onnxruntime case of bench/sample_speed.py, sampled in a process of its own.

onnxruntime keeps a thread pool apart from torch's, and at batch 1 its threads spin
between steps (textrnn/models/onnx_step.py says why). In one process with the other cases
the spinning threads of one case slow the next, whichever engine each uses. Measured on
2 cores: torch's fp32 stepper ran at 1,760 tokens/s right after an onnxruntime run and
at 2,000 otherwise; int8 on onnxruntime ran at 2,950 among the other cases and at 4,050
alone. A user samples with one engine per process, and so does the benchmark: each
onnxruntime case starts once in a worker process (warm-up untimed) and is asked for
one timed run per round, in its turn among the others, so drift still hits every case.

    python engine_worker.py WEIGHTS BATCH SAMPLE_SPEED_ARGS...
    (reads a line per run on stdin, answers the run's tokens/s on stdout)
"""
import subprocess
import sys
from pathlib import Path


class CaseProcess:
    """A running worker; calling it times one run there and returns its tokens/s."""

    def __init__(self, argv: list[str], weights: str, batch: int):
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__)), weights, str(batch), *argv],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._answer()  # "ready": built and warmed up

    def __call__(self) -> float:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return float(self._answer())

    def _answer(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"an onnxruntime worker stopped (exit status {self.proc.wait()})")
        return line

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def main():
    import sample_speed as bench  # this folder is the script's, so first on the path

    weights, batch = sys.argv[1], int(sys.argv[2])
    args = bench.parse_args(sys.argv[3:])
    if args.threads:
        bench.torch.set_num_threads(args.threads)
    device = bench.resolve_device(args.device)
    lm = bench.textrnn_lm(args, device)
    run = lambda n: bench.textrnn_generate(lm, n, batch, weights, "onnxruntime")  # noqa: E731
    run(min(args.length, 16))  # builds the graph and session
    print("ready", flush=True)
    for _ in sys.stdin:
        print(bench.tokens_per_s(lambda: run(args.length), args.length * batch, device), flush=True)


if __name__ == "__main__":
    main()
