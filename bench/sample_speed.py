"""Sampling speed: textrnn's `generate` against two plain PyTorch loops, side by side.

    python bench/sample_speed.py --length 500 --rounds 3
    python bench/sample_speed.py --length 500 --rounds 3 --prefix-tokens 100   # quicker

One 2-layer character LSTM (vocabulary 65, random weights: speed does not depend on
what the weights learned) samples --length new tokens after the prompt "ROMEO:" with
temperature 1, three ways:

  a. textrnn: `LanguageModel(model, tokenizer).generate(...)`, what users call;
  b. plain loop: nn.Embedding + nn.LSTM(num_layers=2) + nn.Linear holding the same
     weights, one token per step (B, 1) with the state carried, softmax + multinomial;
  c. prefix re-run: the same plain network re-reads the whole sequence so far at every
     step from a zero state (no state carried), batch 1 only.

a and b run at batch 1 and at --batch (64 samples at once); c at batch 1. Each round
measures them one after another, so drift of a shared machine hits all alike; the
ratios are the figures to read, not the absolute rates. One JSON object goes to stdout,
progress to stderr.
"""
import argparse
import json
import statistics
import string
import sys
import time

import torch
from torch import nn

import textrnn
from textrnn.device import resolve_device

PROMPT = "ROMEO:"
# 63 characters of a small English play -> a vocabulary of 65 with <pad> and <unk>.
CHARS = "\n !&',-.:;?" + string.ascii_uppercase + string.ascii_lowercase
# What textrnn aims for (speed-up of a over b or c); the JSON says whether it got there.
TARGETS = {"batch_1_textrnn_over_plain_loop": 2.0,
           "batch_1_textrnn_over_prefix_rerun": 25.0,
           "batch_large_textrnn_over_plain_loop": 1.0}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--length", type=int, default=500, help="new tokens per sample")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--embed-dim", type=int, default=128)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64, help="the large batch (samples at once)")
    p.add_argument("--prefix-tokens", type=int, default=0,
                   help="tokens the prefix re-run generates (0: --length); it is slow, and "
                        "fewer tokens overstate its speed, never textrnn's advantage")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.prefix_tokens = args.prefix_tokens or args.length
    if min(args.length, args.rounds, args.prefix_tokens) < 1 or args.batch < 2:
        p.error("--length, --rounds and --prefix-tokens must be at least 1, --batch at least 2")
    return args


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


def sync(device: torch.device):
    """Wait for queued GPU work, so a clock read after it sees the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---- the models --------------------------------------------------------------------------
def textrnn_lm(args, device) -> textrnn.LanguageModel:
    """textrnn's LSTM language model with random weights and a 65-id character tokenizer."""
    tok = textrnn.train_tokenizer("char", [CHARS])
    torch.manual_seed(args.seed)
    model = textrnn.build_model(textrnn.ModelConfig(
        vocab_size=tok.get_vocab_size(), head=textrnn.LMHeadConfig(),
        encoder=textrnn.EncoderConfig(cell="lstm", embed_dim=args.embed_dim,
                                      hidden_size=args.hidden_size, num_layers=args.num_layers)))
    return textrnn.LanguageModel(model.to(device).eval(), tok)


class PlainLM(nn.Module):
    """ids (B, T), state -> logits (B, T, V), (h, c) each (L, B, H)."""

    def __init__(self, vocab: int, embed_dim: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden, num_layers=layers, batch_first=True)
        self.proj = nn.Linear(hidden, vocab)

    def forward(self, ids, state=None):
        h, state = self.lstm(self.embed(ids), state)  # (B, T, H)
        return self.proj(h), state


@torch.no_grad()
def plain_copy(model) -> PlainLM:
    """A PlainLM computing the same function as textrnn's model (one nn.LSTM per layer
    there, one multi-layer nn.LSTM here)."""
    cfg = model.cfg
    enc = cfg.encoder
    plain = PlainLM(cfg.vocab_size, enc.embed_dim, enc.hidden_size, enc.num_layers)
    plain.embed.weight.copy_(model.encoder.embed.weight)
    for i, layer in enumerate(model.encoder.layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(plain.lstm, f"{name}_l{i}").copy_(getattr(layer, f"{name}_l0"))
    plain.proj.load_state_dict(model.head.proj.state_dict())
    return plain.to(next(model.parameters()).device).eval()


@torch.no_grad()
def check_same_function(model, plain, ids: list[int]):
    """Refuse to compare networks that do not compute the same logits."""
    x = torch.tensor([ids], device=next(model.parameters()).device)  # (1, P)
    ours, _ = model(x)
    theirs, _ = plain(x)
    if not torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4):
        raise SystemExit("the plain copy does not reproduce textrnn's logits")


# ---- the three ways to sample ------------------------------------------------------------
def textrnn_generate(lm, length: int, batch: int) -> list[str]:
    texts = lm.generate(PROMPT, max_new_tokens=length, temperature=1.0, seed=0,
                        num_samples=batch)
    # Every character token is one character, so this proves all tokens were made.
    assert all(len(t) == len(PROMPT) + length for t in texts)
    return texts


@torch.no_grad()
def plain_loop(plain, prompt_ids: list[int], length: int, batch: int, seed: int):
    """Stateful sampling: the prompt once, then one (B, 1) step per token."""
    device = plain.proj.weight.device
    gen = torch.Generator(device=device).manual_seed(seed)
    logits, (h, c) = plain(torch.tensor([prompt_ids], device=device))  # (1, P, V)
    state = (h.repeat(1, batch, 1), c.repeat(1, batch, 1))  # (L, B, H): every sample alike
    logits = logits[:, -1].expand(batch, -1)  # (B, V)
    out = torch.empty(batch, length, dtype=torch.long, device=device)
    for t in range(length):
        nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)  # (B, 1)
        out[:, t] = nxt[:, 0]
        logits, state = plain(nxt, state)  # (B, 1, V)
        logits = logits[:, -1]
    return out


@torch.no_grad()
def prefix_rerun(plain, prompt_ids: list[int], length: int, seed: int):
    """Stateless sampling: step t runs all P + t tokens so far again, batch 1."""
    device = plain.proj.weight.device
    gen = torch.Generator(device=device).manual_seed(seed)
    seq = torch.tensor([prompt_ids], device=device)  # (1, P)
    for _ in range(length):
        logits, _ = plain(seq)  # (1, P + t, V), from a zero state every time
        nxt = torch.multinomial(torch.softmax(logits[:, -1], -1), 1, generator=gen)  # (1, 1)
        seq = torch.cat([seq, nxt], 1)
    return seq


def tokens_per_s(fn, tokens: int, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return tokens / (time.perf_counter() - t0)


# ---- rounds and summary ------------------------------------------------------------------
def cases(args, lm, plain, prompt_ids):
    """name -> (function, new tokens it makes). The large batch follows batch 1 so a
    round measures every case under similar conditions."""
    L, B, P = args.length, args.batch, args.prefix_tokens
    return {
        "textrnn_b1": (lambda: textrnn_generate(lm, L, 1), L),
        "plain_loop_b1": (lambda: plain_loop(plain, prompt_ids, L, 1, args.seed), L),
        "prefix_rerun_b1": (lambda: prefix_rerun(plain, prompt_ids, P, args.seed), P),
        "textrnn_large": (lambda: textrnn_generate(lm, L, B), L * B),
        "plain_loop_large": (lambda: plain_loop(plain, prompt_ids, L, B, args.seed), L * B),
    }


def warm_up(lm, plain, prompt_ids, args):
    """A short untimed run of each: first-call set-up (kernels, allocator, the
    tokenizer's piece table) is not what a user generating text waits for each time."""
    n = min(args.length, 16)
    textrnn_generate(lm, n, 1)
    textrnn_generate(lm, n, args.batch)
    plain_loop(plain, prompt_ids, n, 1, args.seed)
    plain_loop(plain, prompt_ids, n, args.batch, args.seed)
    prefix_rerun(plain, prompt_ids, n, args.seed)


def run_rounds(args, device) -> dict:
    lm = textrnn_lm(args, device)
    plain = plain_copy(lm.model)
    prompt_ids = lm.encode_prompt(PROMPT)
    check_same_function(lm.model, plain, prompt_ids)
    warm_up(lm, plain, prompt_ids, args)
    todo = cases(args, lm, plain, prompt_ids)
    rates = {name: [] for name in todo}
    for r in range(args.rounds):
        for name, (fn, tokens) in todo.items():
            rates[name].append(tokens_per_s(fn, tokens, device))
            log(f"round {r + 1}/{args.rounds} {name:17s} {rates[name][-1]:12,.1f} tokens/s")
    return rates, lm.tokenizer.get_vocab_size()


def summarise(args, rates: dict) -> dict:
    med = {name: statistics.median(v) for name, v in rates.items()}
    ratios = {"batch_1_textrnn_over_plain_loop": med["textrnn_b1"] / med["plain_loop_b1"],
              "batch_1_textrnn_over_prefix_rerun": med["textrnn_b1"] / med["prefix_rerun_b1"],
              "batch_large_textrnn_over_plain_loop":
                  med["textrnn_large"] / med["plain_loop_large"]}
    r4 = lambda v: round(v, 4)  # noqa: E731
    per_round = lambda name: [round(v, 1) for v in rates[name]]  # noqa: E731
    return {
        "batch_1": {
            "textrnn_tokens_per_s": round(med["textrnn_b1"], 1),
            "plain_loop_tokens_per_s": round(med["plain_loop_b1"], 1),
            "prefix_rerun_tokens_per_s": round(med["prefix_rerun_b1"], 1),
            "textrnn_over_plain_loop": r4(ratios["batch_1_textrnn_over_plain_loop"]),
            "textrnn_over_prefix_rerun": r4(ratios["batch_1_textrnn_over_prefix_rerun"]),
            "per_round": {k: per_round(k) for k in ("textrnn_b1", "plain_loop_b1",
                                                     "prefix_rerun_b1")},
        },
        f"batch_{args.batch}": {
            "textrnn_tokens_per_s": round(med["textrnn_large"], 1),
            "plain_loop_tokens_per_s": round(med["plain_loop_large"], 1),
            "textrnn_over_plain_loop": r4(ratios["batch_large_textrnn_over_plain_loop"]),
            "per_round": {k: per_round(k) for k in ("textrnn_large", "plain_loop_large")},
        },
        "prefix_rerun": {
            "tokens_measured": args.prefix_tokens, "length": args.length,
            "note": ("the re-run's first tokens_measured new tokens, timed in full; a step "
                     "costs more as the sequence grows, so fewer tokens than length overstate "
                     "its speed" if args.prefix_tokens < args.length else
                     "all length new tokens, timed in full"),
        },
        "targets": {k.replace("large", str(args.batch)): v for k, v in TARGETS.items()},
        "targets_met": {k.replace("large", str(args.batch)): ratios[k] >= v
                        for k, v in TARGETS.items()},
    }


def settings(args, device, vocab: int) -> dict:
    return {"device": str(device), "length": args.length, "rounds": args.rounds,
            "prompt": PROMPT, "vocab": vocab, "embed_dim": args.embed_dim,
            "hidden_size": args.hidden_size, "num_layers": args.num_layers,
            "batches": [1, args.batch], "temperature": 1.0, "weights": "random",
            "torch": torch.__version__, "textrnn": textrnn.__version__,
            "threads": torch.get_num_threads()}


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rates, vocab = run_rounds(args, device)
    out = {"benchmark": "sample_speed", "settings": settings(args, device, vocab)}
    out.update(summarise(args, rates))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
