"""Cells whose recurrence is linear in the state: trained over a whole sequence at once.

minGRU and minLSTM (Feng et al. 2024) and RG-LRU (De et al. 2024) compute their gates from
the input alone, so the state follows a diagonal linear recurrence

    h_t = a_t * h_{t-1} + b_t        a_t, b_t (B, H) known for every t before the scan

and a layer is one large matrix product over (B*T) rows plus this scan, where an LSTM is T
small products in a row. Sampling stays one O(1) step per token (`ScanStepper`).

The scan (`linear_scan`) is a two-level blocked scan (Blelloch 1990's idea, in blocks): the
sequence is cut into ~sqrt(T) chunks, each chunk scanned from a zero state (all chunks
together, so ~sqrt(T) elementwise steps on (B, T/C, H)), then the state entering each chunk
is carried across chunks (~sqrt(T) steps on (B, H)) and added in, scaled by the chunk's
running product of a. For T = 2048 that is 91 elementwise steps instead of 2048. It works in
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

from ..padded import reverse_within_length
from .contract import Cell, check_unidirectional


def _forward_scan(a, b, h0):
    """h_t = a_t * h_{t-1} + b_t for a, b (B, T, H) from h0 (B, H) or None (zeros)."""
    B, T, H = b.shape
    C = max(1, math.isqrt(T))  # chunk length: ~sqrt(T) steps within chunks, ~sqrt(T) across
    N = -(-T // C)
    pad = N * C - T
    if pad:  # a = 1, b = 0 hold the state; the padded tail is cut off below
        a = nn.functional.pad(a, (0, 0, 0, pad), value=1.0)
        b = nn.functional.pad(b, (0, 0, 0, pad))
    # (C, B, N, H): step t of every chunk is one contiguous slice
    a4 = a.reshape(B, N, C, H).permute(2, 0, 1, 3).contiguous()
    h = b.reshape(B, N, C, H).permute(2, 0, 1, 3).clone(memory_format=torch.contiguous_format)
    run = a4.clone()  # running product of a within the chunk
    for t in range(1, C):  # each chunk from a zero state
        h[t].addcmul_(a4[t], h[t - 1])
        run[t].mul_(run[t - 1])
    carry = b.new_zeros(B, H) if h0 is None else h0.to(b.dtype)
    entering = torch.empty_like(h[0])  # (B, N, H): the state before each chunk
    for n in range(N):
        entering[:, n] = carry
        carry = torch.addcmul(h[-1][:, n], run[-1][:, n], carry)
    h.addcmul_(run, entering)  # (C, B, N, H)
    return h.permute(1, 2, 0, 3).reshape(B, N * C, H)[:, :T]


class _LinearScan(torch.autograd.Function):
    """linear_scan with its gradient as a reverse scan: with g_t = dL/dh_t + a_{t+1} g_{t+1},
    dL/db_t = g_t, dL/da_t = g_t * h_{t-1} and dL/dh0 = a_1 * g_1."""

    @staticmethod
    def forward(ctx, a, b, h0):
        h = _forward_scan(a, b, h0)
        ctx.save_for_backward(a, h, h0)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        later = torch.cat([a[:, 1:], a.new_zeros(a.size(0), 1, a.size(2))], 1)  # a_{t+1}
        g = _forward_scan(later.flip(1), grad_h.flip(1), None).flip(1)  # (B, T, H)
        before = h.new_zeros(h.size(0), 1, h.size(2)) if h0 is None else h0[:, None]
        grad_a = g * torch.cat([before, h[:, :-1]], 1)
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
        self.reset_gates()

    def suffixes(self) -> list[str]:
        return ["_l0", "_l0_reverse"][: 2 if self.bidirectional else 1]

    def reset_gates(self) -> None:
        """The paper's initialisation of the gates, where it has one."""

    def coefficients(self, pre):
        """pre (B, T, G*H), the input projection -> (a, b), each (B, T, H)."""
        raise NotImplementedError

    def _direction(self, x, h0, lengths, suffix, reverse):
        if reverse and lengths is not None:
            x = reverse_within_length(x, lengths)
        elif reverse:
            x = x.flip(1)
        pre = nn.functional.linear(x, getattr(self, "weight_ih" + suffix), getattr(self, "bias_ih" + suffix))
        a, b = self.coefficients(pre)  # (B, T, H) each
        if lengths is not None:  # hold the state past each sequence's end
            live = (torch.arange(x.size(1), device=x.device)[None, :] < lengths[:, None])[..., None]
            a, b = torch.where(live, a, 1.0), torch.where(live, b, 0.0)
        h = linear_scan(a, b, h0).to(pre.dtype)  # (B, T, H)
        last = h[:, -1]
        if lengths is not None:
            h = h * live
        if reverse:
            h = reverse_within_length(h, lengths) if lengths is not None else h.flip(1)
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

    def recurrent_weight_names(self) -> list[str]:
        return []  # no hidden-to-hidden matrix for DropConnect

    def stepper(self, dense, fuse: bool = False) -> ScanStepper:
        check_unidirectional(self)
        return ScanStepper(self, self.weight_ih_l0.detach(), self.bias_ih_l0.detach(), dense)
