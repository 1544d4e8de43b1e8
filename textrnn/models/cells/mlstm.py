"""mLSTM (Beck et al. 2024, xLSTM): an LSTM whose memory is a matrix per head, written with
exponential input gating, read with a query, its gates from the input only.

Per head (d = H / heads), from the input x_t:

    q_t, k_t = W_q x_t, W_k x_t / sqrt(d)      v_t = W_v x_t      o_t = sigmoid(W_o x_t)
    i~_t, f~_t = w_i x_t, w_f x_t   (one number per head)      log f_t = logsigmoid(f~_t)
    C_t = f_t C_{t-1} + i_t v_t k_t^T      n_t = f_t n_{t-1} + i_t k_t      (i_t = exp(i~_t))
    h~_t = C_t q_t / max(|n_t . q_t|, 1)        h_t = o_t * headnorm(h~_t)

exp(i~) overflows, so the paper keeps a stabiliser m_t = max(log f_t + m_{t-1}, i~_t) and
stores C, n scaled by exp(-m_t) (then the bound 1 reads exp(-m_t)); the state is (C, n, m).
Since no gate reads the state, the same outputs come from the parallel form: with
F_t = sum of log f up to t, the weight of step s at t is D_ts = F_t - F_s + i~_s (s <= t),
the carried state's is F_t + m_0, m_t their maximum, and h is an attention-like product
(q k^T * exp(D - m)) v. `chunk_size` bounds its (T x T) matrix: chunks run one after
another in that form, each carrying (C, n, m) to the next (the paper's chunkwise form).
Sampling steps the recurrence. As in the paper's mLSTM layer, each head's h~ is normalised
(a layer norm over its d values, with a learnt scale) before the output gate: that also
cancels the normaliser's per-head scale, which at a near-zero n . q would otherwise blow an
output up (and with it the rounding, to 1e-3 of a value at T = 2048 in fp32, measured).

Initialisation as the paper's code: the gates' weights zero, input-gate biases N(0, 0.1),
forget-gate biases from 3 to 6 across heads (long memory from the start). A decoder of this
cell starts from an empty memory: a vector summary has no place in a matrix memory.
"""
import math

import torch
from torch import nn
from torch.nn.functional import logsigmoid

from ...errors import ConfigError
from ..padded import real_positions, reverse_within_length
from .contract import Cell, check_unidirectional


def head_norm(h, weight, eps: float = 1e-5):
    """A layer norm within each head: h (..., N, d) -> the same, times `weight` (N, d)."""
    h = h - h.mean(-1, keepdim=True)
    return h * torch.rsqrt(h.square().mean(-1, keepdim=True) + eps) * weight


def chunk(q, k, v, ig, logf, state):
    """The parallel form over one chunk. q, k, v (B, N, L, d); ig, logf (B, N, L); state
    (C (B, N, d, d), n (B, N, d), m (B, N)) -> h~ (B, N, L, d) and the state after the chunk."""
    C0, n0, m0 = state
    L = q.size(2)
    F = logf.cumsum(-1)  # (B, N, L)
    log_d = F[..., :, None] - F[..., None, :] + ig[..., None, :]  # (B, N, L, L): t, s
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    log_d = log_d.masked_fill(~causal, float("-inf"))
    log_0 = F + m0[..., None]  # (B, N, L): the carried state's weight
    m = torch.maximum(log_d.amax(-1), log_0)  # (B, N, L)
    D = torch.exp(log_d - m[..., None])  # (B, N, L, L)
    w0 = torch.exp(log_0 - m)  # (B, N, L)
    S = (q @ k.transpose(-1, -2)) * D  # (B, N, L, L)
    num = S @ v + w0[..., None] * (q @ C0.transpose(-1, -2))  # (B, N, L, d)
    den = S.sum(-1) + w0 * (q * n0[..., None, :]).sum(-1)  # (B, N, L)
    h = num / torch.maximum(den.abs(), torch.exp(-m))[..., None]
    last = D[..., -1, :, None]  # (B, N, L, 1): each step's weight at the chunk's end
    C = w0[..., -1, None, None] * C0 + (v * last).transpose(-1, -2) @ k  # (B, N, d, d)
    n = w0[..., -1, None] * n0 + (k * last).sum(-2)  # (B, N, d)
    return h, (C, n, m[..., -1])


def recurrent(q, k, v, ig, logf, state):
    """One step of the stabilised recurrence. q, k, v (B, N, d); ig, logf (B, N)."""
    C, n, m = state
    m_new = torch.maximum(logf + m, ig)  # (B, N)
    i, f = torch.exp(ig - m_new), torch.exp(logf + m - m_new)
    C = f[..., None, None] * C + i[..., None, None] * v[..., :, None] * k[..., None, :]
    n = f[..., None] * n + i[..., None] * k
    num = (C @ q[..., None])[..., 0]  # (B, N, d)
    den = (n * q).sum(-1)  # (B, N)
    return num / torch.maximum(den.abs(), torch.exp(-m_new))[..., None], (C, n, m_new)


class MLSTMStepper:
    """One token at a time: the input projection held by `dense`, then the recurrence."""

    def __init__(self, cell, dense):
        self.cell, self.ihh = cell, None
        self.ih = dense(cell.weight_ih_l0.detach(), cell.bias_ih_l0.detach())
        self.norm = cell.norm_weight_l0.detach().view(cell.heads, cell.head_size)

    def input_proj(self, x):  # x (B, E) -> (B, 4H + 2N)
        return self.ih(x)

    def step(self, gi, state):
        q, k, v, o, ig, logf = self.cell.split(gi[:, None])  # (B, N, 1, d) ..., (B, N, 1)
        h, state = recurrent(q[:, :, 0], k[:, :, 0], v[:, :, 0], ig[..., 0], logf[..., 0], state)
        return torch.sigmoid(o[:, 0]) * head_norm(h, self.norm).flatten(1), state  # (B, H)

    def step_from(self, x, state):
        return self.step(self.input_proj(x), state)


class MLSTM(Cell):
    state_names = ("C", "n", "m")
    takes_settings = ("heads", "chunk_size")  # from EncoderConfig (make_cell)

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False, heads: int = 4, chunk_size: int = 64):
        super().__init__()
        if hidden_size % heads:
            raise ConfigError(f"the mlstm cell splits --hidden-size {hidden_size} into --heads "
                              f"{heads}; choose sizes that divide")
        self.hidden_size, self.bidirectional = hidden_size, bidirectional
        self.heads, self.chunk_size, self.head_size = heads, chunk_size, hidden_size // heads
        H, N = hidden_size, heads
        for suffix in self.suffixes():
            projection = nn.Linear(input_size, 4 * H + 2 * N)  # q, k, v, o; then i~, f~ per head
            with torch.no_grad():
                projection.weight[4 * H:].zero_()
                projection.bias[4 * H:4 * H + N].normal_(0, 0.1)
                projection.bias[4 * H + N:].copy_(torch.linspace(3, 6, N))
            self.register_parameter("weight_ih" + suffix, projection.weight)
            self.register_parameter("bias_ih" + suffix, projection.bias)
            self.register_parameter("norm_weight" + suffix, nn.Parameter(torch.ones(H)))

    def split(self, pre):
        """The projection (B, T, 4H + 2N) -> q, k, v (B, N, T, d), o (B, T, H), i~ and
        log f (B, N, T), in float32 (exp of bf16 gates would lose the memory)."""
        B, T, _ = pre.shape
        H, N = self.hidden_size, self.heads
        pre = pre.float()
        heads = lambda t: t.reshape(B, T, N, self.head_size).transpose(1, 2)  # noqa: E731
        q, k, v, o = pre[..., :4 * H].chunk(4, -1)
        ig, fg = pre[..., 4 * H:].transpose(1, 2).chunk(2, 1)  # (B, N, T) each
        return heads(q), heads(k) / math.sqrt(self.head_size), heads(v), o, ig, logsigmoid(fg)

    def state_shapes(self) -> tuple:
        d = self.head_size
        return ((self.heads, d, d), (self.heads, d), (self.heads,))

    def start_state(self, h) -> tuple:
        return tuple(h.new_zeros(h.size(0), *shape) for shape in self.state_shapes())

    def step_state(self, state) -> tuple:
        return tuple(s[0] for s in state)

    def sequence_state(self, step: tuple):
        return tuple(s[None] for s in step)

    def stepper(self, dense, fuse: bool = False) -> MLSTMStepper:
        check_unidirectional(self)
        return MLSTMStepper(self, dense)

    def _direction(self, x, state, lengths, suffix, reverse):
        B, T, _ = x.shape
        if reverse:
            x = reverse_within_length(x, lengths)
        pre = nn.functional.linear(x, getattr(self, "weight_ih" + suffix), getattr(self, "bias_ih" + suffix))
        q, k, v, o, ig, logf = self.split(pre)
        if lengths is not None:  # past a sequence's end: f = 1, i = 0, so the memory holds
            live = real_positions(lengths, T)  # (B, T)
            ig = ig.masked_fill(~live[:, None], float("-inf"))
            logf = logf.masked_fill(~live[:, None], 0.0)
        if state is None:
            state = tuple(pre.new_zeros(B, *shape, dtype=torch.float32) for shape in self.state_shapes())
        outs = []
        for s in range(0, T, self.chunk_size):
            part = slice(s, s + self.chunk_size)
            h, state = chunk(q[:, :, part], k[:, :, part], v[:, :, part], ig[..., part], logf[..., part], state)
            outs.append(h)
        norm = getattr(self, "norm_weight" + suffix).view(self.heads, self.head_size)
        h = head_norm(torch.cat(outs, 2).transpose(1, 2), norm).reshape(B, T, self.hidden_size)  # (B, T, H)
        y = (torch.sigmoid(o) * h).to(pre.dtype)
        if lengths is not None:
            y = y * live[..., None]
        if reverse:
            y = reverse_within_length(y, lengths)
        return y, state

    def forward(self, x, state=None, lengths=None):
        """x (B, T, E); state (C (D, B, N, d, d), n (D, B, N, d), m (D, B, N)) or None;
        lengths (B,) or None -> outputs (B, T, D*H), final state."""
        outs, finals = [], []
        for d, suffix in enumerate(self.suffixes()):
            y, final = self._direction(x, None if state is None else tuple(s[d] for s in state),
                                       lengths, suffix, d == 1)
            outs.append(y)
            finals.append(final)
        return torch.cat(outs, -1), tuple(torch.stack(parts) for parts in zip(*finals))
