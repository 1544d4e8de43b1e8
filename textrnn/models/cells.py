"""The recurrent cells. Each kind is one batch-first layer that runs two ways:

- `forward(x, state)`: a whole sequence x (B, T, E) -> outputs (B, T, D*H), final state;
  the path for training and scoring;
- `stepper(weights)`: one token at a time, for sampling. It captures the weights once,
  detached, in the layout and format (`fp32`, `bf16`, `int8`: step_weights.py) a single
  step reads fastest, and offers
      input_proj(x)     x (B, E) -> gi (B, G*H): the input's share of the G gate blocks,
                        biases folded in (the encoder turns it into a table lookup for the
                        first layer, see stepper.py);
      step(gi, state)   -> (h (B, H), new state): (h, c) for an LSTM, h otherwise, each (B, H);
      step_from(x, state)  the same from x itself, in one product over [x, h] when built
                        with `fuse` (elman.py's AffineStepper says when that pays).
  Build a new stepper after the weights change.

The torch kinds subclass nn.LSTM / nn.GRU / nn.RNN with one layer, so `forward` is torch's
fused kernel and the parameters keep torch's names (`weight_ih_l0`, ...): saved weights
load unchanged. `ElmanRNN` (elman.py) writes its equation out. A new kind is one class
with `forward` and `stepper()` plus one `CELLS` entry.
"""
import torch
from torch import nn

from .elman import ACTIVATIONS, AffineStepper, ElmanRNN, ElmanStepper, stepper_weights
from .step_weights import Dense, dense_for


def _options(bidirectional: bool, kwargs: dict) -> dict:
    """torch's constructor options: batch-first unless told otherwise (padded.py builds
    weightless twins with `device="meta"` through the same constructor)."""
    return {"batch_first": True, "bidirectional": bidirectional, **kwargs}


class LSTMStepper(AffineStepper):
    """One LSTM step (Hochreiter & Schmidhuber 1997; forget gate, Gers et al. 2000), in
    torch's gate order i, f, g, o:

        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)        h' = sigmoid(o) * tanh(c')
    """

    def __init__(self, w_ih, w_hh, b_ih, b_hh, dense=Dense, fuse: bool = False):
        # both biases add to the same gates: fold them once
        super().__init__(w_ih, w_hh, b_ih + b_hh, dense, fuse)

    @staticmethod
    def hidden(state):
        return state[0]

    @staticmethod
    def update(gates, state):
        i, f, g, o = gates.chunk(4, 1)  # gates (B, 4H)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class GRUStepper:
    """One GRU step (Cho et al. 2014), in torch's form and gate order r, z, n:

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)        z: the same with W_iz, W_hz
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     h' = (1 - z) * n + z * h
    """

    def __init__(self, w_ih, w_hh, b_ih, b_hh, dense=Dense, fuse: bool = False):
        # The new gate's hidden bias b_hn sits inside r * (.), so it cannot be folded into
        # the input bias; the hidden projection carries it. For the same reason the two
        # products stay apart: `fuse` changes nothing here.
        self.ih, self.hh, self.ihh = dense(w_ih, b_ih), dense(w_hh, b_hh), None

    def input_proj(self, x):  # x (B, E) -> (B, 3H)
        return self.ih(x)

    def step_from(self, x, h):
        return self.step(self.input_proj(x), h)

    def step(self, gi, h):
        gh = self.hh(h)  # (B, 3H): r, z, n
        ir, iz, inn = gi.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(inn + r * hn)
        h = n + z * (h - n)  # = (1 - z) * n + z * h, one op fewer
        return h, h


class _GatedLayer:
    """One batch-first layer of a gated torch kind that also steps with `Stepper`.
    `activation` is unused: the gates fix their own non-linearities."""
    Stepper = None

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False, **kwargs):
        super().__init__(input_size, hidden_size, num_layers=1, **_options(bidirectional, kwargs))

    def stepper(self, weights: str = "fp32", fuse: bool = False):
        return self.Stepper(*stepper_weights(self), dense_for(weights), fuse)


class LSTM(_GatedLayer, nn.LSTM):
    Stepper = LSTMStepper


class GRU(_GatedLayer, nn.GRU):
    Stepper = GRUStepper


class RNN(nn.RNN):
    """One batch-first nn.RNN layer (tanh or relu) that also steps: nn.RNN computes the
    Elman equation, so its stepper is ElmanRNN's."""

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False, **kwargs):
        kwargs = {"nonlinearity": activation, **kwargs}
        super().__init__(input_size, hidden_size, num_layers=1, **_options(bidirectional, kwargs))

    def stepper(self, weights: str = "fp32", fuse: bool = False) -> ElmanStepper:
        return ElmanStepper(*stepper_weights(self), ACTIVATIONS[self.nonlinearity], dense_for(weights),
                            fuse)


CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN, "elman": ElmanRNN}


def make_cell(kind: str, input_size: int, hidden_size: int, activation: str = "tanh",
              bidirectional: bool = False) -> nn.Module:
    """One batch-first recurrent layer of the given kind: (B, T, input_size) -> (B, T, D*H)."""
    return CELLS[kind](input_size, hidden_size, activation, bidirectional)
