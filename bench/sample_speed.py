"""Sampling speed: textrnn's `generate` against two plain PyTorch loops, side by side.

    python bench/sample_speed.py --length 500 --rounds 3
    python bench/sample_speed.py --length 500 --rounds 3 --prefix-tokens 100   # quicker
    python bench/sample_speed.py --run RUN --heldout TEXT --heldout-chars 20000  # + bpc

One 2-layer character LSTM (vocabulary 65, random weights: speed does not depend on
what the weights learned; or the trained model of --run) samples --length new tokens
after the prompt "ROMEO:" with temperature 1, three ways:

  a. textrnn: `LanguageModel(model, tokenizer).generate(...)`, what users call, with its
     weights held as fp32 (the default), bf16 and int8 (`weights=`), each step run by
     torch (the default) and, for fp32 and int8, by onnxruntime (`engine=`), each of
     those in a process of its own (engine_worker.py says why; skipped where
     onnxruntime is not installed);
  b. plain loop: nn.Embedding + nn.LSTM(num_layers=2) + nn.Linear holding the same
     weights, one token per step (B, 1) with the state carried, softmax + multinomial;
  c. prefix re-run: the same plain network re-reads the whole sequence so far at every
     step from a zero state (no state carried), batch 1 only;
  d. products only: the fp32 and int8 steppers' matrix products for as many steps and
     nothing else, the bound that fewer calls around them could approach.

a and b run at batch 1 and at --batch (64 samples at once); c and d at batch 1. With --heldout,
each weights format and engine also scores that text token by token through the stepper
sampling uses (bits per character, the state carried from its start), so the speed of
bf16 and int8 is read beside what they cost in quality (a trained --run makes that
meaningful). The int8 targets hold each engine against torch's fp32 stepper, the default. Each round
measures them one after another, so drift of a shared machine hits all alike; the
ratios are the figures to read, not the absolute rates. One JSON object goes to stdout,
progress to stderr.
"""
import argparse
import importlib.util
import json
import math
import statistics
import string
import sys
import time
from pathlib import Path

import torch

import textrnn
from textrnn.device import resolve_device
from textrnn.inference.engines import cached_stepper

from engine_worker import CaseProcess
from plain_sampling import check_same_function, plain_copy, plain_loop, prefix_rerun

PROMPT = "ROMEO:"
# 63 characters of a small English play -> a vocabulary of 65 with <pad> and <unk>.
CHARS = "\n !&',-.:;?" + string.ascii_uppercase + string.ascii_lowercase
# What textrnn aims for (speed-up of a over b or c); the JSON says whether it got there.
TARGETS = {"batch_1_textrnn_over_plain_loop": 2.0,
           "batch_1_textrnn_over_prefix_rerun": 25.0,
           "batch_large_textrnn_over_plain_loop": 1.0,
           "batch_1_int8_over_fp32": 2.0,
           "batch_large_int8_over_fp32": 1.0,
           "batch_1_int8_onnxruntime_over_fp32": 2.0,
           "batch_large_int8_onnxruntime_over_fp32": 1.0}
FORMATS = ("fp32", "bf16", "int8")
ORT_FORMATS = ("fp32", "int8")  # what --engine onnxruntime runs, each in a worker process
# (engine_worker.py says why); its threads spin on briefly after its last step, so the
# next case waits this long, untimed.
SETTLE_S = 0.5


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
    p.add_argument("--no-onnxruntime", action="store_true",
                   help="leave out the onnxruntime engine (left out anyway off the CPU, or "
                        "without the export extra)")
    p.add_argument("--run", help="a trained character-LM run folder to sample from instead of "
                   "random weights (its own sizes replace --hidden-size and friends)")
    p.add_argument("--heldout", help="a text file to score with each weights format (bpc)")
    p.add_argument("--heldout-chars", type=int, default=20000,
                   help="score this many characters from the end of --heldout")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the worker processes
    args.prefix_tokens = args.prefix_tokens or args.length
    args.onnxruntime = args.device == "cpu" and not args.no_onnxruntime and all(
        importlib.util.find_spec(m) for m in ("onnxruntime", "onnxscript"))
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
    """textrnn's LSTM language model with random weights and a 65-id character tokenizer,
    or the model of --run."""
    if args.run:
        lm = textrnn.load(args.run, device)
        enc = lm.model.cfg.encoder
        if enc.cell != "lstm" or enc.conv_kernel or lm.model.cfg.head.adaptive_cutoffs:
            raise SystemExit("--run must hold a plain LSTM language model (the plain loops copy one)")
        args.hidden_size, args.embed_dim, args.num_layers = enc.hidden_size, enc.embed_dim, enc.num_layers
        return lm
    tok = textrnn.train_tokenizer("char", [CHARS])
    torch.manual_seed(args.seed)
    model = textrnn.build_model(textrnn.ModelConfig(
        task="lm", vocab_size=tok.get_vocab_size(), head=textrnn.LMHeadConfig(),
        encoder=textrnn.EncoderConfig(cell="lstm", embed_dim=args.embed_dim,
                                      hidden_size=args.hidden_size, num_layers=args.num_layers)))
    return textrnn.LanguageModel(model.to(device).eval(), tok)


# ---- the ways to sample (the plain loops in plain_sampling.py) ---------------------------
def textrnn_generate(lm, length: int, batch: int, weights: str = "fp32",
                     engine: str = "torch") -> list[str]:
    texts = lm.generate(PROMPT, max_new_tokens=length, temperature=1.0, seed=0,
                        num_samples=batch, weights=weights, engine=engine)
    # Every character token is one character, so this proves all tokens were made.
    assert all(len(t) == len(PROMPT) + length for t in texts)
    return texts


@torch.no_grad()
def products_only(lm, length: int, weights: str):
    """The matrix products of `length` batch-1 steps of the sampling stepper and nothing
    else (no gate functions, no sampling, the same inputs every time): the speed a step
    could reach if every other call cost nothing. int8 over fp32 here is the most that
    cutting those calls could give int8's speed-up."""
    stepper = cached_stepper(lm.model, weights)  # built once: quantising is not timed
    first, *upper = stepper.encoder.layers
    device = next(lm.model.parameters()).device
    h = torch.zeros(1, lm.model.cfg.encoder.hidden_size, device=device)  # (1, H)
    ids = torch.zeros(1, dtype=torch.long, device=device)
    for _ in range(length):
        first.hh(h, stepper.encoder.table[ids])  # (1, G*H): the table row plus W_hh h
        for layer in upper:  # one product over [x, h] when fused, else two
            layer.ihh(torch.cat([h, h], 1)) if layer.ihh is not None else layer.hh(h, layer.ih(h))
        stepper.score(h)  # (1, V)


def tokens_per_s(fn, tokens: int, device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return tokens / (time.perf_counter() - t0)


# ---- rounds and summary ------------------------------------------------------------------
def cases(args, lm, plain, prompt_ids, device):
    """name -> a function that times one run and returns its tokens/s. The large batch
    follows batch 1 so a round measures every case under similar conditions."""
    L, B, P = args.length, args.batch, args.prefix_tokens
    timed = lambda fn, tokens: lambda: tokens_per_s(fn, tokens, device)  # noqa: E731
    ours = lambda b, w: timed(lambda: textrnn_generate(lm, L, b, w), L * b)  # noqa: E731
    ort = lambda b, size: {f"textrnn_{size}_{w}_ort": CaseProcess(args.argv, w, b)  # noqa: E731
                           for w in ORT_FORMATS if args.onnxruntime}
    return {
        "textrnn_b1": ours(1, "fp32"),
        "textrnn_b1_bf16": ours(1, "bf16"),
        "textrnn_b1_int8": ours(1, "int8"),
        **ort(1, "b1"),
        "products_only_b1": timed(lambda: products_only(lm, L, "fp32"), L),
        "products_only_b1_int8": timed(lambda: products_only(lm, L, "int8"), L),
        "plain_loop_b1": timed(lambda: plain_loop(plain, prompt_ids, L, 1, args.seed), L),
        "prefix_rerun_b1": timed(lambda: prefix_rerun(plain, prompt_ids, P, args.seed), P),
        "textrnn_large": ours(B, "fp32"),
        "textrnn_large_bf16": ours(B, "bf16"),
        "textrnn_large_int8": ours(B, "int8"),
        **ort(B, "large"),
        "plain_loop_large": timed(lambda: plain_loop(plain, prompt_ids, L, B, args.seed), L * B),
    }


def formats(args) -> list[tuple[str, str]]:
    """(weights, engine) of every textrnn case."""
    ort = [(w, "onnxruntime") for w in ORT_FORMATS if args.onnxruntime]
    return [(w, "torch") for w in FORMATS] + ort


def warm_up(lm, plain, prompt_ids, args):
    """A short untimed run of each: first-call set-up (kernels, allocator, the
    tokenizer's piece table) is not what a user generating text waits for each time."""
    n = min(args.length, 16)
    for weights in FORMATS:  # the onnxruntime workers warm up on their own
        textrnn_generate(lm, n, 1, weights)
        textrnn_generate(lm, n, args.batch, weights)
    for weights in ("fp32", "int8"):
        products_only(lm, n, weights)
    plain_loop(plain, prompt_ids, n, 1, args.seed)
    plain_loop(plain, prompt_ids, n, args.batch, args.seed)
    prefix_rerun(plain, prompt_ids, n, args.seed)


def run_rounds(args, device) -> dict:
    lm = textrnn_lm(args, device)
    plain = plain_copy(lm.model)
    prompt_ids = lm.encode_prompt(PROMPT)
    check_same_function(lm.model, plain, prompt_ids)
    warm_up(lm, plain, prompt_ids, args)
    todo = cases(args, lm, plain, prompt_ids, device)
    rates = {name: [] for name in todo}
    for r in range(args.rounds):
        for name, rate in todo.items():
            rates[name].append(rate())
            if isinstance(rate, CaseProcess):
                time.sleep(SETTLE_S)
            log(f"round {r + 1}/{args.rounds} {name:17s} {rates[name][-1]:12,.1f} tokens/s")
    for rate in todo.values():
        if isinstance(rate, CaseProcess):
            rate.close()
    return rates, lm.tokenizer.get_vocab_size(), lm


def summarise(args, rates: dict) -> dict:
    med = {name: statistics.median(v) for name, v in rates.items()}
    ratios = {"batch_1_textrnn_over_plain_loop": med["textrnn_b1"] / med["plain_loop_b1"],
              "batch_1_textrnn_over_prefix_rerun": med["textrnn_b1"] / med["prefix_rerun_b1"],
              "batch_large_textrnn_over_plain_loop":
                  med["textrnn_large"] / med["plain_loop_large"],
              "batch_1_int8_over_fp32": med["textrnn_b1_int8"] / med["textrnn_b1"],
              "batch_large_int8_over_fp32": med["textrnn_large_int8"] / med["textrnn_large"]}
    if args.onnxruntime:
        for case, size in (("b1", "1"), ("large", "large")):
            ratios[f"batch_{size}_int8_onnxruntime_over_fp32"] = (
                med[f"textrnn_{case}_int8_ort"] / med[f"textrnn_{case}"])
    r4 = lambda v: round(v, 4)  # noqa: E731
    per_round = lambda names: {k: [round(v, 1) for v in rates[k]] for k in names}  # noqa: E731

    def batch(suffix: str, extra: dict) -> dict:
        names = [f"textrnn_{suffix}", f"textrnn_{suffix}_bf16", f"textrnn_{suffix}_int8"]
        fp32, bf16, int8 = (med[k] for k in names)
        if args.onnxruntime:
            names += [f"textrnn_{suffix}_{w}_ort" for w in ORT_FORMATS]
            ort32, ort8 = (med[f"textrnn_{suffix}_{w}_ort"] for w in ORT_FORMATS)
            extra = {"onnxruntime": {
                "fp32_tokens_per_s": round(ort32, 1), "int8_tokens_per_s": round(ort8, 1),
                "int8_over_fp32": r4(ort8 / fp32), "int8_over_onnxruntime_fp32": r4(ort8 / ort32),
                "fp32_over_fp32": r4(ort32 / fp32),
                "note": "each engine's rate over torch's fp32 stepper (textrnn_tokens_per_s), "
                        "and int8 over fp32 within onnxruntime"}, **extra}
        return {"textrnn_tokens_per_s": round(fp32, 1), "bf16_tokens_per_s": round(bf16, 1),
                "int8_tokens_per_s": round(int8, 1), "bf16_over_fp32": r4(bf16 / fp32),
                "int8_over_fp32": r4(int8 / fp32),
                "plain_loop_tokens_per_s": round(med[f"plain_loop_{suffix}"], 1),
                "textrnn_over_plain_loop": r4(fp32 / med[f"plain_loop_{suffix}"]),
                "int8_over_plain_loop": r4(int8 / med[f"plain_loop_{suffix}"]), **extra,
                "per_round": per_round(names + [f"plain_loop_{suffix}"])}
    return {
        "batch_1": batch("b1", {
            "products_only_tokens_per_s": {"fp32": round(med["products_only_b1"], 1),
                                           "int8": round(med["products_only_b1_int8"], 1)},
            "products_only_int8_over_fp32": r4(med["products_only_b1_int8"] / med["products_only_b1"]),
            "prefix_rerun_tokens_per_s": round(med["prefix_rerun_b1"], 1),
            "textrnn_over_prefix_rerun": r4(ratios["batch_1_textrnn_over_prefix_rerun"])}),
        f"batch_{args.batch}": batch("large", {}),
        "prefix_rerun": {
            "tokens_measured": args.prefix_tokens, "length": args.length,
            "note": ("the re-run's first tokens_measured new tokens, timed in full; a step "
                     "costs more as the sequence grows, so fewer tokens than length overstate "
                     "its speed" if args.prefix_tokens < args.length else
                     "all length new tokens, timed in full"),
        },
        "targets": {k.replace("large", str(args.batch)): v for k, v in TARGETS.items()
                    if k in ratios},
        "targets_met": {k.replace("large", str(args.batch)): ratios[k] >= v
                        for k, v in TARGETS.items() if k in ratios},
    }


@torch.no_grad()
def stepwise_bpc(lm, ids: list[int], weights: str, engine: str) -> float:
    """Bits per character of `ids` (a character model's: one token per character) read
    one token at a time by the stepper with `weights` on `engine`, the state carried from
    the start."""
    model = lm.model
    device = next(model.parameters()).device
    stepper = cached_stepper(model, weights, engine)
    first = torch.tensor([ids[:1]], device=device)
    scores, state = model(first)  # (1, 1, V): the first token
    scores, state = scores[:, -1], stepper.step_state(state, first)
    nll = 0.0
    for t in range(1, len(ids)):
        nll -= torch.log_softmax(scores.float(), -1)[0, ids[t]].item()
        scores, state = stepper.step(torch.tensor([ids[t]], device=device), state)
    return nll / (len(ids) - 1) / math.log(2)


def heldout_quality(args, lm) -> dict:
    """bpc of the last --heldout-chars characters of --heldout in each weights format."""
    text = Path(args.heldout).read_text(encoding="utf-8")[-args.heldout_chars:]
    ids = lm.tokenizer.encode(text).ids
    bpc = {}
    for weights, engine in formats(args):
        name = weights if engine == "torch" else f"{weights}_{engine}"
        bpc[name] = stepwise_bpc(lm, ids, weights, engine)
        log(f"held-out bpc {name}: {bpc[name]:.4f}")
    return {"chars": len(ids), "bpc": {k: round(v, 4) for k, v in bpc.items()},
            "relative_to_fp32": {k: round(v / bpc["fp32"] - 1, 5) for k, v in bpc.items()},
            "target": "every format within 1% of fp32 (torch's)",
            "targets_met": {k: abs(v / bpc["fp32"] - 1) <= 0.01 for k, v in bpc.items()}}


def settings(args, device, vocab: int) -> dict:
    return {"device": str(device), "length": args.length, "rounds": args.rounds,
            "prompt": PROMPT, "vocab": vocab, "embed_dim": args.embed_dim,
            "hidden_size": args.hidden_size, "num_layers": args.num_layers,
            "batches": [1, args.batch], "temperature": 1.0,
            "weights": args.run or "random", "formats": list(FORMATS),
            "torch": torch.__version__, "textrnn": textrnn.__version__,
            "threads": torch.get_num_threads(), "cpu": cpu_name(),
            "int8_engine": torch.backends.quantized.engine,
            "onnxruntime": ort_version() if args.onnxruntime else "not run"}


def ort_version() -> str:
    import onnxruntime
    return onnxruntime.__version__


def cpu_name() -> str:
    """The CPU's model name (Linux), since speed ratios differ between CPUs."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rates, vocab, lm = run_rounds(args, device)
    out = {"benchmark": "sample_speed", "settings": settings(args, device, vocab)}
    out.update(summarise(args, rates))
    if args.heldout:
        out["heldout"] = heldout_quality(args, lm)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
