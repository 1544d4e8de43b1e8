"""What a recurrent cell promises: every layer class in `CELLS` subclasses `Cell`, and the
encoder, the padded path, the translator's decoder, the samplers, the ONNX tracer and
`textrnn export` read only this contract, never a cell's name.

A cell is one batch-first layer, built as `Cls(input_size, hidden_size, activation,
bidirectional)`, with

    forward(x (B, T, E), state=None[, lengths]) -> outputs (B, T, D*H), state

D = 2 directions when bidirectional. `state` is in the cell's own sequence layout (torch's
kernels: (D, B, H) tensors); every other reader goes through the step layout, a tuple of
batch-first tensors, one per name in `state_names`, shaped (B, *shape) for each shape of
`state_shapes()`:

- state_names, state_shapes(): how many tensors a state holds and their sizes per example
  (an LSTM: ("h", "c") of (H,) each; a cell may hold a matrix memory (H, k) or a window of
  past inputs (k - 1, E));
- step_state(state) / sequence_state(step): between the two layouts (unidirectional);
- takes_lengths: True if forward takes `lengths` (B,) itself, its outputs zero at padding
  and its state never moved by it, in both directions; False if the encoder must run it
  over a padded batch one direction at a time (`one_direction()`, padded.py) or packed;
- stepper(dense, fuse): one token at a time for sampling, with detached weights held by
  `dense(W, bias)` (a weight format of textrnn.inference.weights);
- decoder_step(input_size, hidden_size, activation): the trainable single step a decoder
  calls once per target token (see `DecoderStep`);
- activations: the activations the cell takes, or None when it has its own non-linearity;
- recurrent_weight_names(): its hidden-to-hidden matrices, for DropConnect;
- takes_settings (optional): names of EncoderConfig settings its constructor also takes as
  keywords (mLSTM: heads, chunk_size); `make_cell` passes them;
- has_convolution (optional): True if it convolves over time itself, so an encoder's
  --conv-kernel front end is refused.

Cells whose gates read only their input (scan.py: minGRU, minLSTM; rglru.py; mlstm.py) train
a whole sequence as large products and a scan, and step one token at a time to sample.
"""
from typing import ClassVar

from torch import nn

from ...errors import ConfigError


class Cell(nn.Module):
    """The base of every recurrent layer in `CELLS`: built as `Cls(input_size, hidden_size,
    activation, bidirectional)`, it takes x (B, T, E) and an optional state and returns
    outputs (B, T, D*H) and its state, and declares the contract this module's docstring
    lists (state layout, lengths, single step, decoder step)."""
    state_names: ClassVar[tuple] = ("h",)
    takes_lengths: ClassVar[bool] = True
    activations: ClassVar[tuple | None] = None
    decoder_activations: ClassVar[tuple | None] = None  # where the decoder's step takes fewer

    def state_shapes(self) -> tuple:
        """Per example, one shape per state tensor, in the step layout."""
        return ((self.hidden_size,),)

    def step_state(self, state) -> tuple:
        """A unidirectional state as forward returns it -> the step layout (batch first)."""
        return tuple(state) if isinstance(state, (tuple, list)) else (state,)

    def sequence_state(self, step: tuple):
        """The step layout -> a state forward takes."""
        return step

    def start_state(self, h) -> tuple:
        """A step state whose output is h (B, H) and every other tensor zero: where a decoder
        starts from its encoder's summary."""
        rest = [h.new_zeros(h.size(0), *shape) for shape in self.state_shapes()[1:]]
        return (h, *rest)

    def suffixes(self) -> list[str]:
        """Each direction's parameter-name suffix, torch's: "_l0", then "_l0_reverse"."""
        return ["_l0", "_l0_reverse"][: 2 if self.bidirectional else 1]

    def recurrent_weight_names(self) -> list[str]:
        return [name for name, _ in self.named_parameters() if name.startswith("weight_hh")]

    def stepper(self, dense, fuse: bool = False):
        """An object with input_proj(x (B, E)) -> gi (what `step` reads of the input; the
        encoder tabulates it per token for a first layer), step(gi, state) -> (h (B, H),
        state) and step_from(x, state), the weights held by `dense`, captured now."""
        raise ConfigError(f"the {type(self).__name__} cell cannot run one step at a time")

    @classmethod
    def decoder_step(cls, input_size: int, hidden_size: int, activation: str = "tanh") -> nn.Module:
        """The cell's trainable single step, for a decoder (see DecoderStep)."""
        return DecoderStep(cls(input_size, hidden_size, activation, False))


def check_unidirectional(cell: nn.Module) -> None:
    if cell.bidirectional:
        raise ValueError("a bidirectional layer cannot run one step at a time")


class DecoderStep(nn.Module):
    """A decoder's step of any cell: the layer over a one-token sequence.

    forward(x (B, E), state) -> (h (B, H), state)   state in the step layout
    start(h (B, H)) -> a state whose output is h
    sequence(x (B, T, E), state) -> outputs (B, T, H)   (all steps, when no step reads the
                                                         one before's output)
    Cells with a faster form (torch's own single-step modules) give their own."""

    def __init__(self, layer: Cell):
        super().__init__()
        self.layer = layer

    def forward(self, x, state):
        out, seq = self.layer(x[:, None], self.layer.sequence_state(state))
        return out[:, 0], self.layer.step_state(seq)

    def start(self, h) -> tuple:
        return self.layer.start_state(h)

    def sequence(self, x, state):
        out, _ = self.layer(x, self.layer.sequence_state(state))
        return out
