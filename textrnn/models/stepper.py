"""One recurrent step at a time, for sampling: the same maths as the encoder, fewer calls.

At batch 1 a step of `nn.LSTM` is dominated by per-call set-up, not arithmetic. Two
tricks remove most of it:
- the first layer's input projection W_ih·embed(token) + b is precomputed for every
  token, so it becomes a row lookup in a (vocab, G·H) table;
- each step is a handful of plain tensor ops (one matmul per layer), with no packing,
  validation or dropout branches.
The weights are read from the live module when the stepper is built, so build a new
one after the weights change.
"""
import torch
from torch import nn

from .elman import ACTIVATIONS


class _Layer:
    def __init__(self, rnn: nn.Module, cell: str, activation: str):
        self.cell, self.act = cell, ACTIVATIONS[activation]
        self.w_ih, self.w_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
        self.b_ih, self.b_hh = rnn.bias_ih_l0.detach(), rnn.bias_hh_l0.detach()
        if cell == "gru":  # the new-gate's hidden bias sits inside r * (.), so keep it apart
            self.bias = self.b_ih
        else:
            self.bias = self.b_ih + self.b_hh
        self.w_hh_t = self.w_hh.t().contiguous()  # (H, G*H): row-major for h @ W

    def input_proj(self, x):  # x (B, E) -> (B, G*H)
        return torch.addmm(self.bias, x, self.w_ih.t())

    def step(self, gi, state):
        """gi: input projection (B, G*H) plus bias; state -> (output (B, H), new state)."""
        if self.cell == "lstm":
            h, c = state
            gates = torch.addmm(gi, h, self.w_hh_t)  # (B, 4H): i, f, g, o
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            return h, (h, c)
        if self.cell == "gru":
            h = state
            gh = torch.addmm(self.b_hh, h, self.w_hh_t)  # (B, 3H): r, z, n
            ir, iz, inn = gi.chunk(3, 1)
            hr, hz, hn = gh.chunk(3, 1)
            r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            h = n + z * (h - n)  # = (1 - z) * n + z * h
            return h, h
        h = self.act(torch.addmm(gi, state, self.w_hh_t))  # rnn / elman
        return h, h


class Stepper:
    """Incremental inference for an `RNNLanguageModel` (unidirectional, eval mode)."""

    def __init__(self, model):
        enc = model.encoder
        cfg = enc.cfg
        self.model = model
        self.layers = [_Layer(rnn, cfg.cell, cfg.activation) for rnn in enc.layers]
        self.conv = enc.conv is not None
        if not self.conv:
            with torch.no_grad():  # (vocab, G*H): first-layer input projection per token
                self.table = self.layers[0].input_proj(enc.embed.weight.detach())
        self.score = model.head.frozen_scorer()  # h (B, H) -> next-token scores (B, vocab)

    @staticmethod
    def to_step_state(state):
        """Encoder state (list of (1, B, H) tensors) -> per-layer (B, H) tensors."""
        return [tuple(t[0] for t in s) if isinstance(s, tuple) else s[0] for s in state]

    @torch.no_grad()
    def step(self, ids, state):
        """ids: (B,) newest tokens, or (B, k) the last k for a conv front end; state from
        `to_step_state`. Returns next-token scores (B, vocab) and the new state."""
        if self.conv:
            x = self.model.encoder.features(ids)[:, -1]  # (B, E) at the newest position
            gi = self.layers[0].input_proj(x)
        else:
            gi = self.table[ids]  # (B, G*H)
        new_state = []
        for i, layer in enumerate(self.layers):
            h, s = layer.step(gi, state[i])  # h: (B, H)
            new_state.append(s)
            if i + 1 < len(self.layers):
                gi = self.layers[i + 1].input_proj(h)
        return self.score(h), new_state

