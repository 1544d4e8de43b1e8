"""RG-LRU in its recurrent block (De et al. 2024, Griffin and Hawk).

The real-gated linear recurrent unit, on an input u_t (H):

    r_t = sigmoid(W_a u_t + b_a)        i_t = sigmoid(W_x u_t + b_x)
    a_t = sigmoid(Lambda) ** (c * r_t)                        c = 8
    h_t = a_t * h_{t-1} + sqrt(1 - a_t^2) * (i_t * u_t)

and the block around it, as the paper's recurrent block: two branches of the input x_t,
a GeLU gate gelu(W_g x_t) and u_t = a short causal depthwise convolution (width 4) of
W_u x_t, the RG-LRU over u, then y_t = W_o (gate_t * h_t). The gates read the input only,
so the recurrence trains as a scan (scan.py). a_t is computed in log space,
log a_t = -c * softplus(-Lambda) * r_t, and Lambda starts where a^c is uniform in
[0.9, 0.999] (the paper's range: long memory from the start). sqrt(1 - a^2) has an
unbounded derivative as a -> 1; like the paper's bounded-derivative square root, its
argument is floored (at 1e-6), so no gradient passes 1e3.

State per example: h (H,) and the convolution's window of the last k - 1 values of W_u x
(k - 1, H): state_names ("h", "window"). Sequence state: (h (D, B, H), window (D, B, k-1, H)).
W_a and W_x are full H x H matrices here (the paper's are block-diagonal per head).
"""
import math

import torch
from torch import nn
from torch.nn.functional import gelu, softplus

from ..padded import real_positions, reverse_within_length
from .contract import Cell, check_unidirectional
from .scan import linear_scan

C = 8.0          # the paper's constant in a_t = a ** (c * r_t)
KERNEL = 4       # the temporal convolution's width
A_RANGE = (0.9, 0.999)  # a ** c at initialisation, uniform in this range
FLOOR = 1e-6     # of 1 - a_t^2 under the square root


def decay(lam, r):
    """(a_t, sqrt(1 - a_t^2)) from Lambda (H,) and the recurrence gate r (B, T, H)."""
    log_a = -C * softplus(-lam) * r  # (B, T, H), <= 0
    return log_a.exp(), (-torch.expm1(2 * log_a)).clamp_min(FLOOR).sqrt()


class RGLRUStepper:
    """The block one token at a time: input_proj(x) = [W_g x, W_u x] (tabulated for a
    first layer), then the convolution over the window, the gates, one multiply-add and the
    output projection, every matrix held by `dense`."""

    def __init__(self, cell, dense):
        w = {name: p.detach() for name, p in cell.named_parameters() if name.endswith("_l0")}
        H = cell.hidden_size
        self.ih, self.ihh = dense(w["weight_ih_l0"], w["bias_ih_l0"]), None
        self.gates = dense(w["weight_gates_l0"], w["bias_gates_l0"])
        self.out = dense(w["weight_out_l0"], w["bias_out_l0"])
        self.conv_w, self.conv_b = w["conv_weight_l0"].view(H, KERNEL).t(), w["conv_bias_l0"]  # (k, H)
        self.lam = w["lambda_l0"]

    def input_proj(self, x):  # x (B, E) -> (B, 2H)
        return self.ih(x)

    def step(self, gi, state):
        h, window = state  # (B, H), (B, k-1, H)
        g, v = gi.chunk(2, -1)  # (B, H) each
        seen = torch.cat([window, v[:, None]], 1)  # (B, k, H)
        u = (seen * self.conv_w).sum(1) + self.conv_b  # (B, H)
        r, i = torch.sigmoid(self.gates(u)).chunk(2, -1)
        a, mult = decay(self.lam, r)
        h = a * h + mult * i * u
        return self.out(gelu(g) * h), (h, seen[:, 1:])

    def step_from(self, x, state):
        return self.step(self.input_proj(x), state)


class RGLRU(Cell):
    state_names = ("h", "window")
    has_convolution = True  # an encoder's conv front end would be a second one

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False):
        super().__init__()
        self.hidden_size, self.bidirectional = hidden_size, bidirectional
        H = hidden_size
        for suffix in self.suffixes():
            shapes = {"weight_ih": (2 * H, input_size), "bias_ih": (2 * H,),
                      "conv_weight": (H, 1, KERNEL), "conv_bias": (H,),
                      "weight_gates": (2 * H, H), "bias_gates": (2 * H,),
                      "weight_out": (H, H), "bias_out": (H,), "lambda": (H,)}
            for name, shape in shapes.items():
                self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape)))
            self._initialise(suffix, input_size)

    def _initialise(self, suffix, input_size):
        p = lambda name: getattr(self, name + suffix)  # noqa: E731
        for name, fan_in in (("weight_ih", input_size), ("weight_gates", self.hidden_size),
                             ("weight_out", self.hidden_size), ("conv_weight", KERNEL)):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's and nn.Conv1d's
            nn.init.uniform_(p(name), -bound, bound)
            nn.init.uniform_(p(name.replace("weight", "bias")), -bound, bound)
        with torch.no_grad():  # a ** c ~ U(0.9, 0.999): softplus(-Lambda) = -log(a)
            target = -torch.empty_like(p("lambda")).uniform_(*A_RANGE).log() / C  # (H,)
            p("lambda").copy_(-torch.log(torch.expm1(target)))  # softplus's inverse, negated

    def state_shapes(self) -> tuple:
        return ((self.hidden_size,), (KERNEL - 1, self.hidden_size))

    def step_state(self, state) -> tuple:
        return state[0][0], state[1][0]  # ((B, H), (B, k-1, H))

    def sequence_state(self, step: tuple):
        return step[0][None], step[1][None]

    def stepper(self, dense, fuse: bool = False) -> RGLRUStepper:
        check_unidirectional(self)
        return RGLRUStepper(self, dense)

    def _direction(self, x, h0, window, lengths, suffix, reverse):
        p = lambda name: getattr(self, name + suffix)  # noqa: E731
        B, T, _ = x.shape
        H = self.hidden_size
        if reverse:
            x = reverse_within_length(x, lengths)
        g, v = nn.functional.linear(x, p("weight_ih"), p("bias_ih")).chunk(2, -1)  # (B, T, H)
        if window is None:
            window = v.new_zeros(B, KERNEL - 1, H)
        seen = torch.cat([window.to(v.dtype), v], 1)  # (B, k-1+T, H): causal, the past first
        u = nn.functional.conv1d(seen.transpose(1, 2), p("conv_weight"), p("conv_bias"),
                                 groups=H).transpose(1, 2)  # (B, T, H)
        r, i = torch.sigmoid(nn.functional.linear(u, p("weight_gates"), p("bias_gates"))).chunk(2, -1)
        a, mult = decay(p("lambda"), r.float())
        b = mult * i * u
        if lengths is not None:  # past a sequence's end the state holds
            live = real_positions(lengths, T)[..., None]
            a, b = torch.where(live, a, 1.0), torch.where(live, b, 0.0)
        h = linear_scan(a, b, h0)  # (B, T, H), fp32
        y = nn.functional.linear(gelu(g) * h.to(g.dtype), p("weight_out"), p("bias_out"))
        if lengths is not None:
            y = y * live
        if reverse:
            y = reverse_within_length(y, lengths)
        return y, h[:, -1], seen[:, -(KERNEL - 1):]

    def forward(self, x, state=None, lengths=None):
        """x (B, T, E); state (h (D, B, H), window (D, B, k-1, H)) or None; lengths (B,) or
        None -> outputs (B, T, D*H), final state. With lengths, the window returned is the
        batch's last positions, not each sequence's (the encoder returns no state then)."""
        outs, hs, windows = [], [], []
        for d, suffix in enumerate(self.suffixes()):
            h0, w0 = (None, None) if state is None else (state[0][d], state[1][d])
            y, h, w = self._direction(x, h0, w0, lengths, suffix, d == 1)
            outs.append(y)
            hs.append(h)
            windows.append(w)
        return torch.cat(outs, -1), (torch.stack(hs), torch.stack(windows))
