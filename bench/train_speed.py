"""Training-loop overhead: textrnn's training loop against a plain PyTorch loop, side by side.

    python bench/train_speed.py --seconds 30 --rounds 3
    python bench/train_speed.py --precision fp32 --steps 40 --rounds 3 --device cuda

Both loops train a 2-layer LSTM language model (embedding 128, hidden 512, dropout 0.25,
AdamW at 3e-3, cross-entropy, gradient-norm clipping at 1.0) with truncated BPTT over the
same batchified stream of random token ids, the hidden state carried and detached between
windows. Random ids need no dataset and cost the same per token as real text.

- plain: nn.Embedding -> nn.LSTM(num_layers=2) -> nn.Linear, the loop written out by hand;
- textrnn: `Trainer(...).fit()` with `LMTask` on `build_model(ModelConfig(...))`, the loop
  users run.

Rounds alternate the two (plain, textrnn, plain, textrnn, ...) so that drift of a shared
machine hits both alike; the ratio textrnn/plain is the figure to read, not the absolute
rates. One JSON object goes to stdout, progress to stderr.
"""
import argparse
import contextlib
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

import textrnn
from textrnn.device import fast_bf16, resolve_device
from textrnn.run_files import LOG as LOG_FILE

NEVER = 10**9  # an evaluation/save interval no benchmark reaches


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--precision", default="fp32,bf16", help="comma list of fp32, bf16")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="training time per loop per round, warm-up included")
    p.add_argument("--steps", type=int, default=0,
                   help="timed steps per loop per round instead of --seconds (0: use --seconds)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps at the start of each run")
    p.add_argument("--log-every", type=int, default=1,
                   help="textrnn's log interval: its timing is read from the log records "
                        "(1 adds one small file append per step to textrnn's time)")
    p.add_argument("--vocab", type=int, default=65, help="vocabulary size (65: a character corpus)")
    p.add_argument("--embed-dim", type=int, default=128)
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--bptt", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--windows", type=int, default=64,
                   help="BPTT windows in one pass over the random stream (then it starts over)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.precisions = [s.strip() for s in args.precision.split(",") if s.strip()]
    bad = [s for s in args.precisions if s not in ("fp32", "bf16")]
    if bad or not args.precisions:
        p.error(f"--precision takes fp32 and/or bf16, got {args.precision!r}")
    if min(args.rounds, args.log_every, args.windows, args.vocab - 2) < 1 or args.warmup < 0:
        p.error("--rounds, --log-every and --windows must be at least 1, --vocab at least 3")
    # textrnn's rate comes in windows of --log-every steps, so the warm-up ends on a window
    # boundary; the plain loop skips the same number of steps.
    args.warmup = math.ceil(args.warmup / args.log_every) * args.log_every
    return args


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


# ---- data --------------------------------------------------------------------------------
def random_ids(n: int, vocab: int, seed: int) -> torch.Tensor:
    """(n,) int64 ids in [2, vocab): like a character corpus, never <pad> (0) or <unk> (1)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(2, vocab, (n,), generator=g)


def train_ids(args) -> torch.Tensor:
    """(B * (W*T + 1),): batchified, every one of the W windows is a full (B, T) batch,
    so every step of either loop costs the same and tokens = steps * B * T."""
    return random_ids(args.batch_size * (args.windows * args.bptt + 1), args.vocab, args.seed)


def char_tokenizer(vocab: int):
    """A character tokenizer with exactly `vocab` ids; textrnn saves it with the run."""
    chars = "".join(chr(33 + i) for i in range(vocab - 2))  # printable from "!" on
    tok = textrnn.train_tokenizer("char", [chars])
    if tok.get_vocab_size() != vocab:
        raise SystemExit(f"could not build a tokenizer of {vocab} ids; try another --vocab")
    return tok


def sync(device: torch.device):
    """Wait for queued GPU work, so a clock read after it sees the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---- the plain loop ----------------------------------------------------------------------
class PlainLM(nn.Module):
    """ids (B, T), state -> logits (B, T, V), (h, c) each (L, B, H)."""

    def __init__(self, args):
        super().__init__()
        self.embed = nn.Embedding(args.vocab, args.embed_dim)
        self.lstm = nn.LSTM(args.embed_dim, args.hidden_size, num_layers=args.num_layers,
                            dropout=args.dropout, batch_first=True)
        self.proj = nn.Linear(args.hidden_size, args.vocab)

    def forward(self, ids, state=None):
        h, state = self.lstm(self.embed(ids), state)  # (B, T, H)
        return self.proj(h), state


def autocast_ctx(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def plain_round(args, ids: torch.Tensor, device, precision: str) -> float:
    """Tokens/s of the hand-written loop over the steps after the warm-up."""
    torch.manual_seed(args.seed)
    model = PlainLM(args).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)  # textrnn's decay
    B, T = args.batch_size, args.bptt
    stream = ids.view(B, -1)  # (B, W*T + 1): B contiguous columns, as textrnn.data.batchify
    windows = (stream.size(1) - 1) // T
    state, step = None, 0
    t_start = time.perf_counter()
    t_timed = t_start if args.warmup == 0 else None
    while True:
        i = step % windows
        if i == 0:
            state = None  # a new pass over the stream starts from a fresh state, as textrnn's
        x = stream[:, i * T:(i + 1) * T].to(device, non_blocking=True)  # (B, T)
        y = stream[:, i * T + 1:(i + 1) * T + 1].to(device, non_blocking=True)  # (B, T)
        with autocast_ctx(device, precision):
            logits, state = model(x, state)  # (B, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state = tuple(s.detach() for s in state)  # truncated BPTT: values carry, gradients not
        step += 1
        if step == args.warmup:
            sync(device)
            t_timed = time.perf_counter()
        # No sync per step: a plain loop lets the GPU queue run ahead; the last sync counts it.
        if finished(args, step, time.perf_counter() - t_start):
            break
    sync(device)
    if step <= args.warmup:
        raise SystemExit(no_timed_steps(args, "plain"))
    return (step - args.warmup) * B * T / (time.perf_counter() - t_timed)


def finished(args, step: int, elapsed: float) -> bool:
    """The stopping rule textrnn's TrainConfig gets: max_steps, or a time budget."""
    if args.steps:
        return step >= args.warmup + args.steps
    return elapsed >= args.seconds


def no_timed_steps(args, which: str) -> str:
    return (f"the {which} loop finished within its {args.warmup} warm-up steps; "
            "raise --seconds or lower --warmup")


# ---- textrnn's loop ----------------------------------------------------------------------
def textrnn_round(args, ids: torch.Tensor, val_ids: torch.Tensor, tokenizer, device,
                  precision: str) -> float:
    """Tokens/s of `Trainer.fit()` over the steps after the warm-up.

    Why fit() and its log rather than timing `train_step` calls from here: fit() is the
    loop users run, so whatever it does per step (fetching the window, the schedule, the
    NaN guards, progress and time bookkeeping, the log itself) is measured too, and a
    second copy of its driving code cannot drift from the real one. Each log record's
    tokens_per_s covers exactly the --log-every steps since the previous record, clock to
    clock, so the warm-up windows are dropped and the rest combined. fit() ends with an
    evaluation and a save; they come after the last record and so are never timed.
    """
    torch.manual_seed(args.seed)
    model = textrnn.build_model(textrnn.ModelConfig(
        task="lm", vocab_size=args.vocab, head=textrnn.LMHeadConfig(),
        encoder=textrnn.EncoderConfig(cell="lstm", embed_dim=args.embed_dim, hidden_size=args.hidden_size,
                                      num_layers=args.num_layers, dropout=args.dropout))).to(device)
    task = textrnn.LMTask(ids, val_ids, val_ids.numel(), args.batch_size, args.bptt)
    cfg = textrnn.TrainConfig(
        batch_size=args.batch_size, bptt=args.bptt, lr=args.lr,
        max_steps=args.warmup + args.steps if args.steps else 0,
        time_budget=0.0 if args.steps else args.seconds,
        eval_every=NEVER, save_every=NEVER, log_every=args.log_every,
        seed=args.seed, device=str(device), precision=precision)
    with tempfile.TemporaryDirectory(prefix="textrnn-train-speed-") as run_dir:
        trainer = textrnn.Trainer(model, task, cfg, run_dir, tokenizer, device, precision,
                                  show_progress=False)
        result = trainer.fit()
        if result["status"] == "interrupted":
            raise KeyboardInterrupt
        lines = (Path(run_dir) / LOG_FILE).read_text().splitlines()
    records = [r for r in map(json.loads, lines) if "tokens_per_s" in r]  # training records
    return rate_after_warmup(records, args.warmup, args.batch_size * args.bptt, args)


def rate_after_warmup(records: list, warmup: int, tokens_per_step: int, args) -> float:
    """Combine log windows whose steps all come after the warm-up: total tokens / total time."""
    tokens = seconds = 0.0
    prev = 0
    for rec in sorted(records, key=lambda r: r["step"]):
        n = (rec["step"] - prev) * tokens_per_step  # tokens in this record's window
        if prev >= warmup and rec["tokens_per_s"] > 0:
            tokens += n
            seconds += n / rec["tokens_per_s"]
        prev = rec["step"]
    if not tokens:
        raise SystemExit(no_timed_steps(args, "textrnn"))
    return tokens / seconds


# ---- rounds and summary ------------------------------------------------------------------
def run_rounds(args, device) -> dict:
    """{precision: {"plain": [tok/s per round], "textrnn": [...]}}, measured ABAB."""
    ids = train_ids(args)
    # Validation is read only by fit()'s final, untimed evaluation: keep it small.
    val_ids = random_ids(4 * (args.bptt + 1), args.vocab, args.seed + 1)
    tokenizer = char_tokenizer(args.vocab)
    rates = {p: {"plain": [], "textrnn": []} for p in args.precisions}
    for r in range(args.rounds):
        for precision in args.precisions:  # precisions interleaved, so they share conditions
            for name in ("plain", "textrnn"):
                if name == "plain":
                    rate = plain_round(args, ids, device, precision)
                else:
                    rate = textrnn_round(args, ids, val_ids, tokenizer, device, precision)
                rates[precision][name].append(rate)
                log(f"round {r + 1}/{args.rounds} {precision} {name:8s} {rate:12,.0f} tokens/s")
    return rates


def summarise(runs: dict) -> dict:
    plain = statistics.median(runs["plain"])
    ours = statistics.median(runs["textrnn"])
    return {"plain_tokens_per_s": round(plain, 1), "textrnn_tokens_per_s": round(ours, 1),
            "ratio": round(ours / plain, 4),
            # Each round's pair ran back to back: their ratio is the least drift-prone view.
            "ratio_per_round": [round(t / p, 4) for p, t in zip(runs["plain"], runs["textrnn"])],
            "plain_per_round": [round(v, 1) for v in runs["plain"]],
            "textrnn_per_round": [round(v, 1) for v in runs["textrnn"]]}


def settings(args, device) -> dict:
    return {"device": str(device), "precisions": args.precisions, "rounds": args.rounds,
            "seconds": None if args.steps else args.seconds, "steps": args.steps or None,
            "warmup_steps": args.warmup, "log_every": args.log_every, "vocab": args.vocab,
            "embed_dim": args.embed_dim, "hidden_size": args.hidden_size,
            "num_layers": args.num_layers, "dropout": args.dropout,
            "batch_size": args.batch_size, "bptt": args.bptt, "lr": args.lr, "clip": 1.0,
            "tokens_per_step": args.batch_size * args.bptt, "data": "random token ids",
            "torch": torch.__version__, "textrnn": textrnn.__version__,
            "threads": torch.get_num_threads(), "native_bf16": fast_bf16(device)}


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    runs = run_rounds(args, device)
    out = {"benchmark": "train_speed", "settings": settings(args, device)}
    out.update({p: summarise(runs[p]) for p in args.precisions})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
