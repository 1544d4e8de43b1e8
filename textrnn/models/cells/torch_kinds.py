"""The cells torch runs in its fused kernels: LSTM, GRU and the Elman RNN as `nn.RNN`.

Each subclasses nn.LSTM / nn.GRU / nn.RNN with one layer, so `forward` is torch's fused
kernel and the parameters keep torch's names (`weight_ih_l0`, ...): saved weights load
unchanged. Their sequence state is torch's, (D, B, H) per tensor. They leave `lengths` to
the encoder, which runs a padded batch one direction at a time (padded.py, through
`one_direction`) or packs it on a GPU. Their decoder steps are torch's nn.LSTMCell,
nn.GRUCell and nn.RNNCell (the translator's saved weights keep those names too), and their
steppers (below, and elman.py's) one token at a time for sampling.
"""
import torch
from torch import nn

from .contract import Cell
from .elman import (ACTIVATIONS, AffineStepper, ElmanStepper, OneTensorStep, RNNStep, kernel_args,
                    stepper_weights)


class LSTMStepper(AffineStepper):
    """One LSTM step (Hochreiter & Schmidhuber 1997; forget gate, Gers et al. 2000), in
    torch's gate order i, f, g, o:

        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)        h' = sigmoid(o) * tanh(c')
    """

    def __init__(self, w_ih, w_hh, b_ih, b_hh, dense, fuse: bool = False):
        # both biases add to the same gates: fold them once
        super().__init__(w_ih, w_hh, b_ih + b_hh, dense, fuse)

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

    def __init__(self, w_ih, w_hh, b_ih, b_hh, dense, fuse: bool = False):
        # The new gate's hidden bias b_hn sits inside r * (.), so it cannot be folded into
        # the input bias; the hidden projection carries it. For the same reason the two
        # products stay apart: `fuse` changes nothing here.
        self.ih, self.hh, self.ihh = dense(w_ih, b_ih), dense(w_hh, b_hh), None

    def input_proj(self, x):  # x (B, E) -> (B, 3H)
        return self.ih(x)

    def step_from(self, x, state):
        return self.step(self.input_proj(x), state)

    def step(self, gi, state):
        h = state[0]
        gh = self.hh(h)  # (B, 3H): r, z, n
        ir, iz, inn = gi.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        n = torch.tanh(inn + r * hn)
        h = n + z * (h - n)  # = (1 - z) * n + z * h, one op fewer
        return h, (h,)


class TorchCell(Cell):
    """A one-layer batch-first torch kind with the cell contract."""
    takes_lengths = False
    Stepper = None

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False, **kwargs):
        super().__init__(input_size, hidden_size, num_layers=1, batch_first=True,
                         bidirectional=bidirectional, **self.options(activation), **kwargs)
        self.activation = activation

    @staticmethod
    def options(activation: str) -> dict:
        return {}  # the gated kinds fix their own non-linearities

    def step_state(self, state) -> tuple:
        # (1, B, H) tensors, an (h, c) pair for an LSTM -> (B, H) tensors
        return tuple(t[0] for t in state) if isinstance(state, tuple) else (state[0],)

    def sequence_state(self, step: tuple):
        return tuple(t[None] for t in step) if len(step) > 1 else step[0][None]

    def one_direction(self) -> nn.Module:
        """A one-direction layer of the same kind and sizes with no storage of its own
        (meta device): it only lends its forward to `functional_call` (padded.py)."""
        return type(self)(self.input_size, self.hidden_size, self.activation, False, device="meta")

    def stepper(self, dense, fuse: bool = False):
        return self.Stepper(*stepper_weights(self), dense, fuse)


class LSTMStep(nn.LSTMCell):
    """The decoder's LSTM step: torch's nn.LSTMCell with the DecoderStep interface."""

    def forward(self, x, state):
        h, c = super().forward(x, state)
        return h, (h, c)

    def start(self, h):
        return h, torch.zeros_like(h)

    def sequence(self, x, state):  # torch's fused kernel over the whole target
        return torch.lstm(x, (state[0][None], state[1][None]), *kernel_args(self))[0]


class GRUStep(OneTensorStep, nn.GRUCell):
    def sequence(self, x, state):
        return torch.gru(x, state[0][None], *kernel_args(self))[0]


class LSTM(TorchCell, nn.LSTM):
    state_names = ("h", "c")
    Stepper = LSTMStepper

    def state_shapes(self) -> tuple:
        return (self.hidden_size,), (self.hidden_size,)

    @classmethod
    def decoder_step(cls, input_size: int, hidden_size: int, activation: str = "tanh"):
        return LSTMStep(input_size, hidden_size)


class GRU(TorchCell, nn.GRU):
    Stepper = GRUStepper

    @classmethod
    def decoder_step(cls, input_size: int, hidden_size: int, activation: str = "tanh"):
        return GRUStep(input_size, hidden_size)


class RNN(TorchCell, nn.RNN):
    """nn.RNN computes the Elman equation (tanh or relu), so its stepper is ElmanRNN's."""
    activations = ("tanh", "relu")

    @staticmethod
    def options(activation: str) -> dict:
        return {"nonlinearity": activation}

    def stepper(self, dense, fuse: bool = False) -> ElmanStepper:
        return ElmanStepper(*stepper_weights(self), ACTIVATIONS[self.nonlinearity], dense, fuse)

    @classmethod
    def decoder_step(cls, input_size: int, hidden_size: int, activation: str = "tanh"):
        return RNNStep(input_size, hidden_size, nonlinearity=activation)
