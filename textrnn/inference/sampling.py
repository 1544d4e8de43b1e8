"""Stateful sampling from a language model.

The prompt runs through the network once; after that every new token costs exactly one
recurrent step (stepper.py), never a re-run of the prefix. Several samples are one batch.
"""
import functools
import math
from dataclasses import dataclass

import torch

from ..errors import CheckpointError, ConfigError, setting_name
from ..settings import check, setting
from ..tokenization import PAD_ID, UNK_ID
from .decoding import GREEDY_BELOW, beam_search
from .engines import ENGINES, cached_stepper, fastest_stepper
from .stops import Growing, TextStream, cut_at_stop, track_pieces
from .onnx_engine import check_weights
from .stepper import repeat_rows
from .weights import FORMATS


@functools.cache
def never_ids(device):
    """Ids never emitted: padding and the unknown token (a tensor made once per device)."""
    return torch.tensor([PAD_ID, UNK_ID], device=device)


@dataclass
class SamplingConfig:
    """How a language model samples. Its defaults are the only ones: `textrnn sample`, the
    Python API (`generate`), POST /v1/generate and the page all take theirs from here, so
    one seed and prompt give one text through every door."""
    max_new_tokens: int = setting(500, "new tokens per sample", low=1, high=10**7, flag="--length")
    temperature: float = setting(0.8, f"0, or anything below {GREEDY_BELOW:g}, is greedy",
                                 low=0, high=100, hint="use 0 for greedy, about 0.5-1.0 for sampling")
    top_k: int = setting(0, "sample among the k likeliest tokens; 0: off", low=0)
    top_p: float = setting(1.0, "nucleus sampling (Holtzman et al. 2020): the likeliest tokens "
                           "up to this probability; 1: off", low=0, low_open=True, high=1)
    greedy: bool = setting(False, "always the likeliest token", flag="--greedy")
    num_samples: int = setting(1, "samples, generated as one batch", low=1, high=100000)
    seed: int | None = setting(None, "same seed, same text; sample i of several uses seed + i",
                               low=0, high=2**32 - 1, type=int)
    stop: list = setting([], "stop string, repeatable (at most 8): a sample is cut before it",
                         nargs="append", max_items=8)
    max_stop_chars: int = setting(200, "the longest stop string, in characters", low=1, high=10**6)
    prompt: str = setting("", "text to continue")
    beam: int = setting(1, "beam search with this many beams: the likeliest continuation "
                        "found, not a sample (temperature, top-k and top-p are not used); 1: off",
                        low=1, high=1000)
    weights: str = setting("fp32", "format of the weights while sampling: bf16 and int8 "
                           "(quantised dynamically) read fewer bytes per token, faster on a "
                           "CPU; fp32 is exact", choices=tuple(FORMATS))
    engine: str = setting("torch", "what runs each step: torch, or onnxruntime (CPU, fp32 or "
                          "int8 weights; pip install 'textrnn[export]'), fastest with --weights "
                          "int8; its graph is built once per model and kept in $TEXTRNN_CACHE "
                          "(default ~/.cache/textrnn)",
                          choices=tuple(ENGINES))

    def validate(self) -> "SamplingConfig":
        check(self)
        if any(not s for s in self.stop):
            raise ConfigError("a stop string must not be empty")
        longest = max(self.stop, key=len, default="")
        if len(longest) > self.max_stop_chars:
            raise ConfigError(f"a stop string has {len(longest):,} characters, more than "
                              f"{setting_name('max_stop_chars', self.max_stop_chars)}; shorten it or raise "
                              "the cap")
        if self.engine == "onnxruntime":
            check_weights(self.weights)
        if self.beam > 1 and self.num_samples > 1:
            raise ConfigError(f"beam search gives one text, the likeliest it finds; use "
                              f"{setting_name('num_samples', 1)} with {setting_name('beam')}")
        return self


def filter_logits(logits, top_k: int, top_p: float):
    """Keep the top-k logits and the smallest set whose probability reaches top_p;
    the rest become -inf. logits: (B, V)."""
    if top_k and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = torch.softmax(sorted_logits, -1).cumsum(-1)
        # Drop a token when the mass before it already reaches top_p. The likeliest always
        # stays, also for a top_p below float32's smallest number (it compares as 0).
        drop_sorted = (cum - torch.softmax(sorted_logits, -1)) >= top_p
        drop_sorted[..., 0] = False
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, -math.inf)
    return logits


def is_greedy(cfg: SamplingConfig) -> bool:
    return cfg.greedy or cfg.temperature < GREEDY_BELOW


def allowed(logits):
    """logits (B, V) as float, with the ids never emitted at -inf."""
    return logits.float().index_fill_(1, never_ids(logits.device), -math.inf)


def probabilities(logits, cfg: SamplingConfig):
    """Sampling probabilities (B, V) from `allowed` logits: temperature, then top-k and top-p."""
    if cfg.temperature != 1:
        # Subtract the max first: the best logit becomes 0 and the rest <= 0, so no
        # temperature can push one past float32's range (inf / inf makes the probabilities NaN).
        logits = (logits - logits.amax(-1, keepdim=True)) / cfg.temperature  # (B, V)
    return torch.softmax(filter_logits(logits, cfg.top_k, cfg.top_p), -1)


def choose(logits, cfg: SamplingConfig, generator, noise=None):
    """Next tokens (B,) from logits (B, V); `noise` as `draw` takes it."""
    logits = allowed(logits)
    if is_greedy(cfg):
        return logits.argmax(-1)
    return draw(probabilities(logits, cfg), generator, noise)


def draw(probs, generator, noise=None):
    """One token per row of probs (B, V), each with its probability: the exponential race
    (the Gumbel-max trick, Gumbel 1954, in exponential form): argmax p_i / q_i with q_i ~
    Exp(1). torch.multinomial draws a single sample this very way from the same generator
    stream (so seeds give the texts they gave), after validity checks that cost more than
    the draw itself at batch 1; softmax of finite logits needs none. `noise`: a float32
    tensor shaped as probs to draw q into, saving an allocation per token. `generator`: one
    for every row, or a list of one per row."""
    q = torch.empty_like(probs) if noise is None else noise
    if isinstance(generator, list):  # a generator per row: row i's draws are its own
        for row, g in zip(q, generator):
            row.exponential_(generator=g)
    else:
        q.exponential_(generator=generator)
    return torch.div(probs, q, out=q).argmax(-1)  # (B,)


@torch.no_grad()
def prefill(model, stepper, prompts: list[list[int]]):
    """Run prompts of one length once, as a batch of sequences. Returns their next-token
    logits (B, V) and the state `stepper` takes (batch first)."""
    device = next(model.parameters()).device
    prompt = torch.tensor(prompts, device=device)  # (B, P)
    logits, state = model(prompt)
    if torch.isnan(logits).any():  # checked once here; `draw` checks nothing per token
        raise CheckpointError("the model's scores are NaN: its weights are damaged; load "
                              "another checkpoint or retrain")
    return logits[:, -1], stepper.step_state(state, prompt)


def sample_seed(seed: int, i: int) -> int:
    """The seed of sample i of several drawn with `seed` (the server's `n` too): seed + i,
    within the 32 bits a seed may take."""
    return (seed + i) % 2**32


@torch.no_grad()
def sample(model, prompt_ids: list[int], cfg: SamplingConfig, pieces: list[str], on_token=None):
    """Generate continuations of `prompt_ids`; returns a list of `num_samples` strings
    (continuations only). `pieces[i]` is token i's text; `on_token(text)` streams sample 0,
    in pieces that join to exactly what is returned for it.
    """
    cfg.validate()
    if cfg.beam > 1:
        return [beam_continuation(model, prompt_ids, cfg, pieces, on_token)]
    device = next(model.parameters()).device
    model.eval()
    B = cfg.num_samples
    # With a seed, sample i draws from its own generator seeded seed + i (the server's `n`
    # does the same): each sample is the single sample of its own seed. Without one, the
    # samples share a generator: one draw per token for the batch, not one per row.
    if cfg.seed is None:
        generator = torch.Generator(device=device)
        generator.seed()
    else:
        generator = [torch.Generator(device=device).manual_seed(sample_seed(cfg.seed, i)) for i in range(B)]
    stepper = fastest_stepper(model, B, cfg.weights, cfg.engine)
    logits, state = prefill(model, stepper, [prompt_ids])
    state = repeat_rows(state, B)
    logits = logits.expand(B, -1).contiguous()  # (B, V)
    samples = [Growing(cfg.stop) for _ in range(B)]
    stream = TextStream(on_token, cfg.stop) if on_token is not None else None
    track = bool(cfg.stop) or stream is not None
    new, noise = [], torch.empty(logits.shape, device=device)  # tokens (B,) each; (B, V)
    for _ in range(cfg.max_new_tokens):
        nxt = choose(logits, cfg, generator, noise)  # (B,)
        if track:
            finished = track_pieces(nxt.tolist(), pieces, samples)
            if stream is not None:
                stream.update(samples[0], ended=samples[0].stopped)
            if finished:
                break
        else:
            new.append(nxt)
        logits, state = stepper.step(nxt, state)
    if stream is not None:
        stream.update(samples[0], ended=True)
    if not track:
        return ["".join(pieces[i] for i in row) for row in torch.stack(new, 1).tolist()]
    return [cut_at_stop(s.text(), cfg.stop) for s in samples]


@torch.no_grad()
def beam_continuation(model, prompt_ids: list[int], cfg: SamplingConfig, pieces: list[str],
                      on_token=None) -> str:
    """The likeliest continuation of `cfg.max_new_tokens` tokens that a beam of `cfg.beam`
    finds (decoding.beam_search; every candidate has the same length, so no length
    penalty), cut at a stop string. Sent to `on_token` whole, once found."""
    model.eval()
    stepper = cached_stepper(model, cfg.weights, cfg.engine)
    logits, state = prefill(model, stepper, [prompt_ids])
    first = [torch.log_softmax(allowed(logits), -1)]  # (1, V): the prompt's own next step

    def step(y, state):
        if first:  # the prompt already gave the first scores
            return first.pop().expand(y.size(0), -1), state
        logits, state = stepper.step(y, state)
        return torch.log_softmax(allowed(logits), -1), state

    start = torch.tensor(prompt_ids[-1:], device=logits.device)  # (1,)
    ids = beam_search(step, repeat_rows(state, cfg.beam), start, cfg.beam, [cfg.max_new_tokens])[0]
    text = cut_at_stop("".join(pieces[i] for i in ids), cfg.stop)
    if on_token is not None and text:
        on_token(text)
    return text
