"""Every cell and block side by side: training speed at equal parameters, sampling speed, and
character-model quality on Tiny Shakespeare within a wall-time budget. Prints one JSON object.

    python bench/cells.py --speed                                        # speed only (~17 min)
    python bench/cells.py --speed --configs lstm/plain mingru/residual   # some configurations
    python bench/cells.py --data PATH/TO/tinyshakespeare/input.txt --screen 120 --full 900

Speed (--speed): each configuration (cell x block) is sized so its recurrent body (every
layer, not the embeddings or the head) holds the parameters of a 2x512 LSTM over 128-wide
embeddings, within 10%. In a process of its own (for its peak memory), it trains a character
model on random ids (speed does not depend on the text) at batch 4, 16 and 64 and T 128 and
512 (forward, backward, AdamW; the median of 3 steps after one untimed), in fp32 and, where
the CPU has bf16 arithmetic, bf16 autocast. Reported: tokens/s, parameters x tokens/s (the
issue's measure), achieved GFLOP/s (6 x the body's and head's matrix parameters per token,
plus mLSTM's chunk products), peak resident memory (the process's high-water mark after each
shape, shapes smallest first), and batch-1 and batch-64 sampling tokens/s on torch fp32 and
onnxruntime int8. The fp32 (and bf16) matrix-product peak is measured in the same run: a
GFLOP/s above it is a measurement error, and the JSON says so.

Quality (--data): recipes/generate.py on the corpus (first 90% train, last 10% validation,
read as one stream), each configuration for --screen seconds at its own size (the body
matching the 2x768 LSTM preset's parameters within 10%; the preset's other settings), then
the best two new configurations and the 2x768 LSTM preset itself for --full seconds, in one
run. Reported: each run's validation loss (nats/char), its evaluations over time, and the
first time the best new configuration reached the LSTM's final loss (time to quality).
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CELLS = ("lstm", "mingru", "minlstm", "rglru", "mlstm")
BLOCKS = ("plain", "residual")
CONFIGS = [(c, b) for b in BLOCKS for c in CELLS]
SHAPES = [(4, 128), (4, 512), (16, 128), (16, 512), (64, 128), (64, 512)]  # smallest first
VOCAB, EMBED, LAYERS = 65, 128, 2
STEP_OF = {"mlstm": 16}  # hidden sizes: multiples of this (mLSTM: 4 heads of a multiple of 4)


def encoder(cell, block, hidden, embed=EMBED):
    from textrnn import EncoderConfig
    return EncoderConfig(cell=cell, block=block, hidden_size=hidden, embed_dim=embed,
                         num_layers=LAYERS, dropout=0.0)


def build(cell, block, hidden, embed=EMBED):
    import textrnn
    cfg = textrnn.ModelConfig(task="lm", vocab_size=VOCAB, encoder=encoder(cell, block, hidden, embed),
                              head=textrnn.LMHeadConfig())
    return textrnn.build_model(cfg)


def body_params(model) -> int:
    return sum(p.numel() for p in model.encoder.layers.parameters())


def equal_size(cell, block, target, embed=EMBED) -> int:
    """The hidden size whose body's parameters come closest to `target`."""
    step = STEP_OF.get(cell, 8)
    sizes = range(step, 4096, step)
    count = lambda h: body_params(build(cell, block, h, embed))  # noqa: E731
    lo, hi = 0, len(sizes) - 1
    while lo < hi:  # parameters grow with the hidden size
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(sizes[mid]) < target else (lo, mid)
    best = min((sizes[i] for i in (lo - 1, lo) if i >= 0), key=lambda h: abs(count(h) - target))
    return best


def matrix_params(model) -> int:
    """Parameters that enter matrix products (2-D weights; the embedding is a lookup)."""
    return sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n)


def flops_per_token(model, cell, T) -> float:
    """Training FLOPs per token: 6 per matrix parameter (forward 2, backward 4), plus the
    mLSTM's chunk products (q k^T and S v over a chunk, the carried memory's q C^T)."""
    flops = 6 * matrix_params(model)
    if cell == "mlstm":
        layer = model.encoder.layers[0]
        layer = getattr(layer, "cell", layer)
        L, d, heads = min(layer.chunk_size, T), layer.head_size, layer.heads
        flops += 3 * LAYERS * heads * (4 * L * d + 4 * d * d)
    return flops


def peak_gflops(dtype) -> float:
    """The best rate of square matrix products of a few sizes (10 tries each)."""
    best = 0.0
    for n in (1024, 2048, 3072):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b
        best = max(best, 2 * n ** 3 / min(timed(lambda: a @ b) for _ in range(10)) / 1e9)
    return best


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def train_speed(model, B, T, precision) -> float:
    """Median seconds of a training step at (B, T)."""
    from textrnn.device import autocast
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(2, VOCAB, (B, T + 1))

    def step():
        with autocast(torch.device("cpu"), precision):
            logits, _ = model(ids[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step()
    return sorted(timed(step) for _ in range(3))[1]


def sampling_speed(model) -> dict:
    """Tokens/s of `generate` at batch 1 and 64: torch fp32 and onnxruntime int8."""
    import textrnn
    tok = textrnn.train_tokenizer("char", ["".join(chr(c) for c in range(32, 32 + VOCAB - 2))])
    lm = textrnn.LanguageModel(model.eval(), tok)
    out = {}
    for engine, weights in (("torch", "fp32"), ("onnxruntime", "int8")):
        for batch, n in ((1, 300), (64, 100)):
            try:
                lm.generate("A", max_new_tokens=5, num_samples=batch, seed=0, engine=engine, weights=weights)
                seconds = timed(lambda: lm.generate("A", max_new_tokens=n, num_samples=batch, seed=0,
                                                    engine=engine, weights=weights))
                out[f"{engine}_{weights}_batch{batch}"] = round(batch * n / seconds)
            except Exception as err:  # noqa: BLE001 - reported, not fatal: one line in the JSON
                out[f"{engine}_{weights}_batch{batch}"] = f"failed: {str(err).splitlines()[0][:120]}"
    return out


def worker(cell, block, hidden, precisions):
    """One configuration's speed figures (run in a process of its own)."""
    torch.manual_seed(0)
    model = build(cell, block, hidden).train()
    rows, params = [], body_params(model)
    for precision in precisions:
        for B, T in SHAPES:
            seconds = train_speed(model, B, T, precision)
            tok_s = B * T / seconds
            rows.append({"precision": precision, "batch": B, "T": T, "tokens_per_s": round(tok_s),
                         "params_x_tokens_per_s": round(params * tok_s),
                         "gflops": round(flops_per_token(model, cell, T) * tok_s / 1e9, 1),
                         "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)})
    return {"training": rows, "sampling": sampling_speed(model)}


def speed(args) -> dict:
    from sample_speed import cpu_name  # here, not at the top: a worker's memory is measured
    from textrnn.device import fast_bf16
    precisions = ["fp32"] + (["bf16"] if fast_bf16(torch.device("cpu")) else [])
    peaks = {"fp32": round(peak_gflops(torch.float32), 1)}
    if "bf16" in precisions:
        peaks["bf16"] = round(peak_gflops(torch.bfloat16), 1)
    target = body_params(build("lstm", "plain", 512))
    report = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "matrix_peak_gflops": peaks,
              "equal_parameters": target, "configs": {}}
    for cell, block in args.configs:
        hidden = 512 if (cell, block) == ("lstm", "plain") else equal_size(cell, block, target)
        params = body_params(build(cell, block, hidden))
        print(f"speed: {cell}/{block} hidden {hidden} ({params / target:.3f} of the LSTM's)", file=sys.stderr)
        job = subprocess.run([sys.executable, __file__, "--worker", json.dumps([cell, block, hidden, precisions])],
                             capture_output=True, text=True)
        if job.returncode != 0:
            report["configs"][f"{cell}/{block}"] = {"failed": job.stderr.strip().splitlines()[-1:]}
            continue
        figures = json.loads(job.stdout)
        for row in figures["training"]:
            if row["gflops"] > peaks[row["precision"]]:
                row["error"] = "above the measured matrix peak: a measurement error, not a result"
        report["configs"][f"{cell}/{block}"] = {"hidden_size": hidden, "body_params": params,
                                                "params_ratio": round(params / target, 3), **figures}
    if "training" not in report["configs"].get("lstm/plain", {}):
        return report  # no reference in this run: no ratios
    lstm = {(r["precision"], r["batch"], r["T"]): r for r in report["configs"]["lstm/plain"]["training"]}
    for name, c in report["configs"].items():
        for row in c.get("training", []):
            base = lstm[(row["precision"], row["batch"], row["T"])]
            row["vs_lstm"] = round(row["params_x_tokens_per_s"] / base["params_x_tokens_per_s"], 2)
    report["target_3x_at_batch4_T512_fp32"] = {
        name: next(r["vs_lstm"] for r in c["training"] if (r["precision"], r["batch"], r["T"]) == ("fp32", 4, 512))
        for name, c in report["configs"].items() if "training" in c}
    return report


def quality_run(data, cell, block, hidden, seconds, out) -> dict:
    from recipe_run import TRAINING_SUMMARY, run_recipe
    r = run_recipe("generate.py", ["--data", data, "--cell", cell, "--block", block,
                                   "--hidden-size", str(hidden), "--time-budget", str(seconds),
                                   "--num-samples", "1", "--length", "100"], out)
    evals = [{"elapsed": x["elapsed"], "step": x["step"], "loss": round(x["val"]["loss"], 4)}
             for x in r["log"] if "val" in x]
    return {"cell": cell, "block": block, "hidden_size": hidden, "command": r["command"],
            "val_loss": round(r["metrics"]["val"]["loss"], 4), **{k: r[k] for k in TRAINING_SUMMARY},
            "evaluations": evals}


def quality(args) -> dict:
    from sample_speed import cpu_name
    from textrnn.tasks.lm import CORPUS
    target = body_params(build("lstm", "plain", CORPUS["hidden_size"], CORPUS["embed_dim"]))
    sizes = {(c, b): CORPUS["hidden_size"] if (c, b) == ("lstm", "plain")
             else equal_size(c, b, target, CORPUS["embed_dim"]) for c, b in CONFIGS}
    report = {"cpu": cpu_name(), "data": args.data, "equal_parameters": target, "screen": {}}
    for (cell, block), hidden in sizes.items():
        print(f"screen: {cell}/{block} hidden {hidden}, {args.screen} s", file=sys.stderr)
        report["screen"][f"{cell}/{block}"] = quality_run(args.data, cell, block, hidden, args.screen,
                                                          f"{args.out}/screen-{cell}-{block}")
    new = sorted((r for r in report["screen"].values() if r["cell"] != "lstm"), key=lambda r: r["val_loss"])
    finalists = [("lstm", "plain")] + [(r["cell"], r["block"]) for r in new[:2]]
    report["full"] = {}
    for cell, block in finalists:
        print(f"full: {cell}/{block}, {args.full} s", file=sys.stderr)
        report["full"][f"{cell}/{block}"] = quality_run(args.data, cell, block, sizes[(cell, block)], args.full,
                                                        f"{args.out}/full-{cell}-{block}")
    reference = report["full"]["lstm/plain"]["val_loss"]
    best = min((r for k, r in report["full"].items() if k != "lstm/plain"), key=lambda r: r["val_loss"])
    reached = next((e["elapsed"] for e in best["evaluations"] if e["loss"] <= reference), None)
    report["time_to_quality"] = {
        "reference_loss": reference, "best_new": f"{best['cell']}/{best['block']}",
        "best_new_loss": best["val_loss"], "seconds_to_reference_loss": reached,
        "within_half_the_budget": reached is not None and reached <= args.full / 2,
        "best_at_most_1_38": min(reference, best["val_loss"]) <= 1.38}
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--speed", action="store_true", help="the speed table")
    p.add_argument("--data", help="a character corpus (Tiny Shakespeare's input.txt) for the quality runs")
    p.add_argument("--screen", type=float, default=120.0, help="seconds per configuration in the screen")
    p.add_argument("--full", type=float, default=900.0, help="seconds for the finalists")
    p.add_argument("--out", default="runs/bench-cells", help="where the quality runs' folders go")
    p.add_argument("--configs", nargs="+", default=[f"{c}/{b}" for c, b in CONFIGS],
                   choices=[f"{c}/{b}" for c, b in CONFIGS], help="for --speed: which cell/block "
                   "configurations (lstm/plain, the reference of the ratios, by default among them)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(*json.loads(args.worker))))
        return
    if not args.speed and not args.data:
        p.error("pass --speed, --data CORPUS, or both")
    args.configs = [tuple(c.split("/")) for c in args.configs]
    report = {}
    if args.speed:
        report["speed"] = speed(args)
    if args.data:
        report["quality"] = quality(args)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
