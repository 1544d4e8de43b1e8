"""The plain Elman RNN written out from its equations, for teaching and for checks.

    h_t = act(W x_t + b_W + U h_{t-1} + b_U)        y_t = V h_t + c

(V and c live in the task head.) The parameter names and shapes match one layer of
torch's `nn.RNN`, so the two can share weights and be compared; `nn.RNN` is the fast
path, this loop shows what it computes and adds the sigmoid activation nn.RNN lacks.
`ElmanStepper` is the same equation one token at a time, for sampling from either.
"""
import math

import torch
from torch import nn

from .contract import Cell, check_unidirectional

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


def direction_weights(rnn: nn.Module, suffix: str = "_l0"):
    """(W_ih, W_hh, b_ih, b_hh) of one direction of a one-layer recurrent module, by torch's
    parameter names (which ElmanRNN shares): suffix "_l0" forward, "_l0_reverse" backward."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return tuple(getattr(rnn, name + suffix) for name in names)


def stepper_weights(rnn: nn.Module):
    """The forward direction's weights, detached, for a stepper. A step reads the text left
    to right, so a bidirectional layer (whose backward half starts at the end) has none."""
    check_unidirectional(rnn)
    return tuple(w.detach() for w in direction_weights(rnn))


class AffineStepper:
    """A cell stepper whose pre-activation is W_ih x + W_hh h + b, then `update(pre, state)`
    (the Elman cell, the LSTM). It holds W_ih and W_hh apart, so the input half can be
    computed ahead; or, with `fuse` (a layer above another, where the input is only known
    at the step), as one matrix [W_ih, W_hh] over [x, h]: one product instead of two. With
    int8 weights that halves the fixed cost of a layer's step (measured at 2048 x 512: 159
    us for two products, 57 us for one); in fp32 it gains nothing and would change the
    rounding, so fp32 steppers keep them apart. Subclasses give `update`; the state is a
    tuple whose first tensor is h."""

    def __init__(self, w_ih, w_hh, bias, dense, fuse: bool = False):
        if fuse:  # (G*H, E + H)
            self.ihh, self.ih, self.hh = dense(torch.cat([w_ih, w_hh], 1), bias), None, None
        else:
            self.ihh, self.ih, self.hh = None, dense(w_ih, bias), dense(w_hh)

    def input_proj(self, x):  # x (B, E) -> (B, G*H)
        return self.ih(x)

    def step(self, gi, state):
        """gi: input_proj of this step's input (B, G*H) -> (output h (B, H), new state)."""
        return self.update(self.hh(state[0], gi), state)

    def step_from(self, x, state):
        """A step from the input x (B, E) itself -> (output h (B, H), new state)."""
        if self.ihh is None:
            return self.step(self.input_proj(x), state)
        return self.update(self.ihh(torch.cat([x, state[0]], 1)), state)


class ElmanStepper(AffineStepper):
    """The equation above one step at a time, split at the `+` between its two halves so
    the input half can be computed ahead (for the first layer, once per vocabulary entry):

        input_proj(x) = W x + b_W + b_U   (B, H)        step(gi, (h,)) = act(gi + U h)   (B, H)

    The weights are captured once, as `dense` holds them (fp32, bf16 or int8). nn.RNN's
    stepper is this too."""

    def __init__(self, W, U, b_W, b_U, act, dense, fuse: bool = False):
        # both biases add to the same pre-activation: fold them once
        super().__init__(W, U, b_W + b_U, dense, fuse)
        self.act = act

    def update(self, pre, state):
        h = self.act(pre)  # (B, H)
        return h, (h,)


class OneTensorStep:
    """The DecoderStep interface over a torch cell whose state is one (B, H) tensor."""

    def forward(self, x, state):
        h = super().forward(x, state[0])
        return h, (h,)

    def start(self, h):
        return (h,)


class RNNStep(OneTensorStep, nn.RNNCell):
    """A decoder's Elman step (nn.RNN's and ElmanRNN's): torch's nn.RNNCell (tanh or relu)
    with the DecoderStep interface."""

    def sequence(self, x, state):
        run = torch.rnn_tanh if self.nonlinearity == "tanh" else torch.rnn_relu
        return run(x, state[0][None], *kernel_args(self))[0]


def kernel_args(cell) -> tuple:
    """A single-step module's parameters as torch's fused sequence kernels take them, in the
    same gate order: biases, one layer, no dropout, eval, one direction, batch first."""
    return ([cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh], True, 1, 0.0, False, False, True)


class ElmanRNN(Cell):
    """One batch-first Elman layer; the interface of `nn.RNN(num_layers=1, batch_first=True)`,
    and it takes `lengths` itself (its loop holds the state past a sequence's end)."""
    activations = tuple(ACTIVATIONS)
    decoder_activations = ("tanh", "relu")  # its decoder step is torch's nn.RNNCell

    def __init__(self, input_size: int, hidden_size: int, activation: str = "tanh",
                 bidirectional: bool = False):
        super().__init__()
        self.hidden_size = hidden_size
        self.act = ACTIVATIONS[activation]
        self.bidirectional = bidirectional
        for suffix in self.suffixes():
            self.register_parameter("weight_ih" + suffix, nn.Parameter(torch.empty(hidden_size, input_size)))
            self.register_parameter("weight_hh" + suffix, nn.Parameter(torch.empty(hidden_size, hidden_size)))
            self.register_parameter("bias_ih" + suffix, nn.Parameter(torch.empty(hidden_size)))
            self.register_parameter("bias_hh" + suffix, nn.Parameter(torch.empty(hidden_size)))
        bound = 1 / math.sqrt(hidden_size)  # nn.RNN's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def step(self, x_t, h, suffix="_l0"):
        """One time step. x_t: (B, E), h: (B, H) -> (B, H)."""
        W, U, b_W, b_U = direction_weights(self, suffix)
        return self.act(x_t @ W.T + b_W + h @ U.T + b_U)

    def step_state(self, state) -> tuple:
        return (state[0],)  # (1, B, H) -> ((B, H),)

    def sequence_state(self, step: tuple):
        return step[0][None]

    def stepper(self, dense, fuse: bool = False) -> ElmanStepper:
        """`step` for sampling: the forward direction, weights captured now as `dense` holds
        them (see ElmanStepper and AffineStepper)."""
        return ElmanStepper(*stepper_weights(self), self.act, dense, fuse)

    @classmethod
    def decoder_step(cls, input_size: int, hidden_size: int, activation: str = "tanh"):
        return RNNStep(input_size, hidden_size, nonlinearity=activation)

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
