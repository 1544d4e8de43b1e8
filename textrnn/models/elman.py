"""The plain Elman RNN written out from its equations, for teaching and for checks.

    h_t = act(W x_t + b_W + U h_{t-1} + b_U)        y_t = V h_t + c

(V and c live in the task head.) The parameter names and shapes match one layer of
torch's `nn.RNN`, so the two can share weights and be compared; `nn.RNN` is the fast
path, this loop shows what it computes and adds the sigmoid activation nn.RNN lacks.
"""
import math

import torch
from torch import nn

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


class ElmanRNN(nn.Module):
    """One batch-first Elman layer; the interface of `nn.RNN(num_layers=1, batch_first=True)`."""

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False):
        super().__init__()
        self.hidden_size = hidden_size
        self.act = ACTIVATIONS[activation]
        self.bidirectional = bidirectional
        for suffix in ["_l0", "_l0_reverse"][: 2 if bidirectional else 1]:
            self.register_parameter("weight_ih" + suffix, nn.Parameter(torch.empty(hidden_size, input_size)))
            self.register_parameter("weight_hh" + suffix, nn.Parameter(torch.empty(hidden_size, hidden_size)))
            self.register_parameter("bias_ih" + suffix, nn.Parameter(torch.empty(hidden_size)))
            self.register_parameter("bias_hh" + suffix, nn.Parameter(torch.empty(hidden_size)))
        bound = 1 / math.sqrt(hidden_size)  # nn.RNN's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def step(self, x_t, h, suffix="_l0"):
        """One time step. x_t: (B, E), h: (B, H) -> (B, H)."""
        W, U = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        b_W, b_U = getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix)
        return self.act(x_t @ W.T + b_W + h @ U.T + b_U)

    def _direction(self, x, h, lengths, suffix, reverse):
        B, T, _ = x.shape
        outputs = [None] * T
        order = range(T - 1, -1, -1) if reverse else range(T)
        for t in order:
            h_new = self.step(x[:, t], h, suffix)
            if lengths is not None:
                # Past a sequence's end the state must not move (what packing does).
                live = (t < lengths).unsqueeze(1)  # (B, 1)
                h_new = torch.where(live, h_new, h)
                outputs[t] = h_new * live
            else:
                outputs[t] = h_new
            h = h_new
        return torch.stack(outputs, 1), h  # (B, T, H), (B, H)

    def forward(self, x, h0=None, lengths=None):
        """x: (B, T, E); h0: (D, B, H) or None; lengths: (B,) on x's device or None.

        Returns outputs (B, T, D*H) and the final state (D, B, H), D = 1 or 2 directions.
        """
        D = 2 if self.bidirectional else 1
        if h0 is None:
            h0 = x.new_zeros(D, x.size(0), self.hidden_size)
        out, h = self._direction(x, h0[0], lengths, "_l0", reverse=False)
        if not self.bidirectional:
            return out, h.unsqueeze(0)
        out_r, h_r = self._direction(x, h0[1], lengths, "_l0_reverse", reverse=True)
        return torch.cat([out, out_r], -1), torch.stack([h, h_r])
