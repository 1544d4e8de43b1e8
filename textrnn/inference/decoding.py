"""Choosing a sequence one token at a time: greedy, sampled, or by beam search, over any
model that takes a step. A step is `step(tokens (N,), carry) -> (log-probabilities (N, V),
carry)`, where `carry` is the model's state: tensors with a row per sequence, in lists or
tuples. A translator's decoder and a language model's stepper both fit.

Beam search (batched: B sentences x K beams are one batch of B*K rows) keeps the K best
partial sequences of each sentence; a sequence that ends (with `eos`) leaves its beam
with its score divided by Wu et al. (2016)'s length penalty ((5 + n) / 6)^alpha, and a
sentence is done when K sequences have ended or it reached its length limit.
"""
import math

import torch

from ..nested import take


def length_penalty(n: int, alpha: float) -> float:
    return ((5 + n) / 6) ** alpha


@torch.no_grad()
def greedy(step, carry, start, limits: list[int], eos: int | None = None) -> list[list[int]]:
    """The likeliest token at every step; start (B,) the first inputs; each sequence ends at
    `eos` (left out) or at its length limit."""
    return sample(step, carry, start, limits, eos, temperature=0.0)


# Below this temperature sampling is greedy in effect (a logit 0.01 behind the best is
# e^-10 times less likely than it), so it is greedy outright: dividing by a smaller one
# could send every score past float32's range, and the probabilities would be NaN.
GREEDY_BELOW = 1e-3


@torch.no_grad()
def sample(step, carry, start, limits: list[int], eos: int | None = None, temperature: float = 1.0,
           generator=None) -> list[list[int]]:
    """Each token drawn from the step's distribution at `temperature` (0, or below
    GREEDY_BELOW: greedy)."""
    y, out = start, []
    done = torch.zeros(start.size(0), dtype=torch.bool, device=start.device)
    limit = torch.tensor(limits, device=start.device)
    for t in range(max(limits)):
        logp, carry = step(y, carry)
        if temperature >= GREEDY_BELOW:
            probs = torch.softmax(logp.float() / temperature, -1)
            y = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        else:
            y = logp.argmax(-1)
        out.append(y)
        done |= (y == eos) if eos is not None else done
        done |= limit <= t + 1
        if bool(done.all()):
            break
    rows = torch.stack(out, 1).tolist()  # (B, steps)
    return [_cut(r[:n], eos) for r, n in zip(rows, limits)]


def _cut(tokens: list[int], eos) -> list[int]:
    return tokens[: tokens.index(eos)] if eos is not None and eos in tokens else tokens


@torch.no_grad()
def beam_search(step, carry, start, beam: int, limits: list[int], eos: int | None = None,
                alpha: float = 0.0) -> list[list[int]]:
    """The best sequence per sentence by beam search. `carry` must already hold each
    sentence `beam` times in a row (B*K rows); start (B,) the first inputs."""
    B, K, device = start.size(0), beam, start.device
    y = start.repeat_interleave(K)  # (B*K,)
    scores = torch.full((B, K), -math.inf, device=device)
    scores[:, 0] = 0  # at first every beam of a sentence is the same: keep one
    history = torch.empty(B * K, 0, dtype=torch.long, device=device)
    ended: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    done = [False] * B
    for t in range(max(limits)):
        logp, carry = step(y, carry)  # (B*K, V)
        V = logp.size(-1)
        top, idx = (scores.reshape(-1, 1) + logp.float()).reshape(B, K * V).topk(min(2 * K, K * V), -1)
        from_beam, token = idx // V, idx % V  # (B, 2K) each
        if eos is not None:
            _collect_ended(top, from_beam, token == eos, history, ended, done, K, alpha)
            top = top.masked_fill(token == eos, -math.inf)
        scores, order = top.topk(K, -1)  # the K best that go on, (B, K)
        rows = (torch.arange(B, device=device)[:, None] * K + from_beam.gather(1, order)).flatten()
        y = token.gather(1, order).flatten()
        history = torch.cat([history[rows], y[:, None]], 1)
        carry = take(carry, rows)
        for b in range(B):
            if not done[b] and (len(ended[b]) >= K or t + 1 >= limits[b]):
                if t + 1 >= limits[b]:  # out of length: the live beams end here too
                    ended[b] += [(scores[b, k].item() / length_penalty(t + 1, alpha),
                                  history[b * K + k].tolist()) for k in range(K)
                                 if scores[b, k] > -math.inf]
                done[b] = True
        if all(done):
            break
    return [max(e, key=lambda x: x[0])[1] if e else [] for e in ended]


def _collect_ended(top, from_beam, is_eos, history, ended, done, K: int, alpha: float) -> None:
    """Sequences whose next token is eos, among each sentence's K best candidates."""
    for b, j in is_eos[:, :K].nonzero().tolist():
        if not done[b] and top[b, j] > -math.inf:
            seq = history[b * K + from_beam[b, j]].tolist()
            ended[b].append((top[b, j].item() / length_penalty(len(seq) + 1, alpha), seq))
