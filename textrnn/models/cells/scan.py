"""Cells whose recurrence is linear in the state: trained over a whole sequence at once.

minGRU and minLSTM (Feng et al. 2024) and RG-LRU (De et al. 2024) compute their gates from
the input alone, so the state follows a diagonal linear recurrence

    h_t = a_t * h_{t-1} + b_t        a_t, b_t (B, H) known for every t before the scan

and a layer is one large matrix product over (B*T) rows plus this scan, where an LSTM is T
small products in a row. Sampling stays one O(1) step per token (`ScanStepper`).

The scan (`linear_scan`) is a two-level blocked scan (Blelloch 1990's idea, in blocks): the
sequence is cut into chunks of C ~ sqrt(T) steps, every chunk scanned from a zero state at
once (C elementwise steps on (B, T/C, H) views), the state entering each chunk carried
across chunks (T/C steps on (B, H)), then decayed through its chunk and added in (C more
steps). For T = 2048 that is 128 elementwise steps instead of 2048. It works in
linear space and only multiplies by a in [0, 1] and adds, so it is exact to rounding at any
T and cannot overflow; the log-space scan of the minGRU paper (Heinsen 2023) subtracts
cumulative sums of log a that grow with T, and in fp32 that cancellation costs ~1e-4 of
relative error by T = 2048 (measured), while positivity of h is what it needs, not what the
cells need. Its backward is the same scan run in reverse (`_LinearScan`), so neither
direction keeps an autograd graph of T steps.
"""
import math

import torch
from torch import nn

from ..padded import real_positions, reverse_within_length
from .contract import Cell, check_unidirectional


def chunk_length(T: int) -> int:
    """~sqrt(T) steps within chunks and ~sqrt(T) across; a divisor of T near sqrt(T) where
    there is one, so no padded copy of a and b is needed."""
    root = max(1, math.isqrt(T))
    near = [c for c in range(max(1, root // 2), 2 * root + 1) if T % c == 0]
    return min(near, key=lambda c: abs(c - root)) if near else root


def _scan(a, b, h0=None, reverse: bool = False):
    """h_t = a_t * h_{t-1} + b_t for a, b (B, T, H) from h0 (B, H) or None (zeros); with
    `reverse`, h_t = a_t * h_{t+1} + b_t from the end (and no h0)."""
    B, T, H = b.shape
    C = chunk_length(T)
    N = -(-T // C)
    h = b.new_zeros(B, N * C, H) if N * C > T else b.new_empty(B, T, H)
    h[:, :T] = b  # the padded tail (b = 0, a = 1) holds the state and is cut off below
    if N * C > T:
        a = torch.cat([a, a.new_ones(B, N * C - T, H)], 1)
    A, h4 = a.view(B, N, C, H), h.view(B, N, C, H)  # step t of every chunk: [:, :, t]
    steps = list(range(C - 1, -1, -1) if reverse else range(C))
    for before, t in zip(steps, steps[1:]):  # every chunk from a zero state, all at once
        h4[:, :, t].addcmul_(A[:, :, t], h4[:, :, before])
    ends, decay = h4[:, :, steps[-1]], A.prod(2)  # (B, N, H): each chunk's last value, its product of a
    carry = b.new_zeros(B, H) if h0 is None else h0.to(b.dtype)
    entering = torch.empty_like(decay)  # the state before each chunk, carried across chunks
    for n in (range(N - 1, -1, -1) if reverse else range(N)):
        entering[:, n] = carry
        carry = torch.addcmul(ends[:, n], decay[:, n], carry)
    for t in steps:  # each chunk's entering state, decayed step by step, added in
        entering = entering * A[:, :, t]
        h4[:, :, t].add_(entering)
    return h[:, :T]


class _LinearScan(torch.autograd.Function):
    """linear_scan with its gradient as a reverse scan: with g_t = dL/dh_t + a_{t+1} g_{t+1},
    dL/db_t = g_t, dL/da_t = g_t * h_{t-1} and dL/dh0 = a_1 * g_1."""

    @staticmethod
    def forward(ctx, a, b, h0):
        h = _scan(a, b, h0)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        later = torch.empty_like(a)  # a_{t+1}; the last position's is never read
        later[:, :-1], later[:, -1] = a[:, 1:], 0
        g = _scan(later, grad_h, None, reverse=True)  # (B, T, H)
        grad_a = torch.empty_like(g)
        grad_a[:, 1:] = g[:, 1:] * h[:, :-1]
        grad_a[:, 0] = g[:, 0] * h0 if h0 is not None else 0
        grad_h0 = a[:, 0] * g[:, 0] if h0 is not None and ctx.needs_input_grad[2] else None
        return grad_a, g, grad_h0


def linear_scan(a, b, h0=None):
    """h (B, T, H) with h_t = a_t * h_{t-1} + b_t, from a, b (B, T, H) and h0 (B, H) or None
    (zeros). Runs in float32 whatever the inputs' precision (bf16 would lose the state)."""
    a, b = a.float(), b.float()
    return _LinearScan.apply(a, b, None if h0 is None else h0.float())


def sequential_scan(a, b, h0=None):
    """The same recurrence one step at a time: the reference the tests hold the scan to."""
    h = b.new_zeros(b.size(0), b.size(2)) if h0 is None else h0
    out = []
    for t in range(b.size(1)):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)


class ScanStepper:
    """One token at a time for sampling: the input projection (held by `dense`: fp32, bf16
    or int8), then the cell's `coefficients` and one multiply-add. No hidden-to-hidden
    matrix, so `fuse` has nothing to join."""

    def __init__(self, cell, w, bias, dense):
        self.cell, self.ih, self.ihh = cell, dense(w, bias), None

    def input_proj(self, x):  # x (B, E) -> (B, G*H)
        return self.ih(x)

    def step(self, gi, state):
        a, b = self.cell.coefficients(gi[:, None])  # (B, 1, H) each
        h = a[:, 0] * state[0] + b[:, 0]  # (B, H)
        return h, (h,)

    def step_from(self, x, state):
        return self.step(self.input_proj(x), state)


class ScanCell(Cell):
    """A layer whose gates read only its input: one input projection `weight_ih` (G*H, E)
    per direction (the "_reverse" one for the backward direction), `coefficients` turning its
    output into (a, b), and the scan. It takes `lengths` itself: past a sequence's end a = 1
    and b = 0, so the state holds, and outputs there are zero. Sequence state: (D, B, H)."""
    gates = 2  # G: blocks of H in the input projection

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False):
        super().__init__()
        self.hidden_size, self.bidirectional = hidden_size, bidirectional
        for suffix in self.suffixes():
            projection = nn.Linear(input_size, self.gates * hidden_size)  # nn.Linear's init
            self.register_parameter("weight_ih" + suffix, projection.weight)
            self.register_parameter("bias_ih" + suffix, projection.bias)

    def coefficients(self, pre):
        """pre (B, T, G*H), the input projection -> (a, b), each (B, T, H)."""
        raise NotImplementedError

    def _direction(self, x, h0, lengths, suffix, reverse):
        if reverse:
            x = reverse_within_length(x, lengths)
        pre = nn.functional.linear(x, getattr(self, "weight_ih" + suffix), getattr(self, "bias_ih" + suffix))
        a, b = self.coefficients(pre)  # (B, T, H) each
        if lengths is not None:  # hold the state past each sequence's end
            live = real_positions(lengths, x.size(1))[..., None]
            a, b = torch.where(live, a, 1.0), torch.where(live, b, 0.0)
        h = linear_scan(a, b, h0).to(pre.dtype)  # (B, T, H)
        last = h[:, -1]
        if lengths is not None:
            h = h * live
        if reverse:
            h = reverse_within_length(h, lengths)
        return h, last

    def forward(self, x, state=None, lengths=None):
        """x (B, T, E); state (D, B, H) or None; lengths (B,) or None -> outputs
        (B, T, D*H), final state (D, B, H)."""
        outs, lasts = [], []
        for d, suffix in enumerate(self.suffixes()):
            h, last = self._direction(x, None if state is None else state[d], lengths, suffix, d == 1)
            outs.append(h)
            lasts.append(last)
        return torch.cat(outs, -1), torch.stack(lasts)

    def step_state(self, state) -> tuple:
        return (state[0],)  # (1, B, H) -> ((B, H),)

    def sequence_state(self, step: tuple):
        return step[0][None]

    def stepper(self, dense, fuse: bool = False) -> ScanStepper:
        check_unidirectional(self)
        return ScanStepper(self, self.weight_ih_l0.detach(), self.bias_ih_l0.detach(), dense)
