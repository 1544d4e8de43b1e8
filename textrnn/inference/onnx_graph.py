"""A module traced into an ONNX graph by torch's exporter (the onnxruntime engine's step and
`textrnn export`'s), and the engine's step graph: a language model's stepper with its
state side by side in one (B, S) tensor.

Why one tensor: generation, beam search and the server select, repeat and join its rows as
they do the torch stepper's; and one array crosses into onnxruntime and back rather than
one per state tensor (each crossing costs microseconds, which at batch 1 add up to a tenth
of a step)."""
import contextlib
import importlib.util
import io
import logging
import math
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError, first_line, setting_name
from ..nested import leaves
from .stepper import lm_stepper

OPSET = 18  # below torch 2.13's default (20), so runtimes from onnxruntime 1.14 on read it


@contextlib.contextmanager
def quiet(*names):
    """The loggers of these names ("" the root) report errors only, inside the block."""
    loggers = [logging.getLogger(name or None) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def require_exporter() -> None:
    if tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 6):
        raise ConfigError(f"ONNX export needs torch 2.6 or newer (this is {torch.__version__}); "
                          "upgrade torch")
    if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript")):
        raise ConfigError("ONNX export needs the onnx and onnxscript packages: "
                          "pip install 'textrnn[export]'")


def trace(module: nn.Module, args: tuple, input_names, output_names, dynamic_shapes):
    """`module` called on `args` as an ONNX ModelProto, by torch's exporter."""
    require_exporter()
    # The exporter reports its stages on stdout and warns about its own internals (in
    # warnings and in torch's log); callers print the one line that matters.
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), quiet("torch.onnx", "onnxscript", "onnx_ir"):
        warnings.simplefilter("ignore")
        try:
            return torch.onnx.export(module, args, dynamo=True, dynamic_shapes=dynamic_shapes,
                                     opset_version=OPSET, input_names=list(input_names),
                                     output_names=list(output_names)).model_proto
        except Exception as exc:  # the exporter raises many kinds; each is one line here
            raise ConfigError(f"torch's ONNX exporter could not export this model's step "
                              f"({first_line(exc, 200)}); run with {setting_name('debug', True)} "
                              "for the exporter's own report") from exc


def state_layout(model) -> list[tuple]:
    """Per layer, the shapes (per example) of its step state's tensors."""
    return [cell.state_shapes() for cell in model.encoder.layers]


def widen(state):
    """A step state (per layer, a tuple of (B, ...) tensors) -> one (B, S) tensor, S their
    sizes per example added up, bottom layer first, each layer's tensors in order."""
    # (B, H) tensors as they are: a flatten the graph would run at every step for nothing
    return torch.cat([t if t.dim() == 2 else t.flatten(1) for t in leaves(state)], -1)


def unwiden(wide, layout: list[tuple]) -> list[tuple]:
    """`widen`'s inverse: views of wide (B, S), shaped by `layout` (state_layout)."""
    sizes = [math.prod(shape) for shapes in layout for shape in shapes]
    flat = iter(wide.split(sizes, -1))
    # shapes first in zip: it stops at a layer's last shape without taking the next tensor
    return [tuple(t if len(shape) == 1 else t.reshape(-1, *shape) for shape, t in zip(shapes, flat))
            for shapes in layout]


class WideStep(nn.Module):
    """The fp32 stepper with its state side by side: (ids (B,), state (B, S)) -> (scores
    (B, vocab), the new state (B, S)). `fuse`: layers above the first in one product over
    [input, state]."""

    def __init__(self, model, fuse: bool = False):
        super().__init__()
        self.stepper, self.layout = lm_stepper(model, fuse=fuse), state_layout(model)

    def forward(self, ids, state):
        scores, state = self.stepper.step(ids, unwiden(state, self.layout))
        return scores, widen(state)


def graph_bytes(model, weights: str) -> bytes:
    """The step graph; for `weights` "int8", with each matrix quantised (a layer above
    another as one product over [input, state]: one quantisation of its input per step,
    not two), one scale per matrix: on the README's character LSTM one scale per row
    (per_channel) ran about 15% slower, and both scored held-out text within 0.03% of fp32's
    bits per character (onnxruntime 1.32, 2-core Xeon)."""
    width = sum(math.prod(shape) for shapes in state_layout(model) for shape in shapes)  # S
    B = 2  # an example batch; its axis is dynamic
    batch = torch.export.Dim("batch", min=1)
    args = (torch.full((B,), 2, dtype=torch.long), torch.zeros(B, width))
    proto = trace(WideStep(model, fuse=weights == "int8"), args, ["ids", "state"],
                  ["scores", "state_out"], ({0: batch}, {0: batch}))
    if weights == "fp32":
        return proto.SerializeToString()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with tempfile.TemporaryDirectory() as tmp, quiet(""):  # it advises pre-processing at warning level
        out = Path(tmp) / "int8.onnx"
        quantize_dynamic(proto, out, weight_type=QuantType.QInt8)
        return out.read_bytes()


class StepGraph(nn.Module):
    """A language model's one step as `textrnn export` writes it, every state tensor an input
    of its own so other runtimes need no knowledge of how textrnn lays them out:

        inputs   ids (B,) int64          each stream's newest token
                 for each name of the cell's state_names (an LSTM: h, c; most cells: h):
                 NAME (L, B, *shape) float32   every layer's, bottom layer first, when every
                                               layer's has the same shape; else NAME_l0,
                                               NAME_l1, ... (B, *shape), one per layer
        outputs  logits (B, vocab) float32, then each state input's new value, "_out" added
                 to its name

    (With an adaptive softmax the "logits" are log-probabilities; either way the larger, the
    likelier.) B is free (a dynamic axis). A text starts from zero states; its prompt goes
    through the same graph one token at a time, and the last prompt token's logits choose
    the first new token."""

    def __init__(self, model):
        super().__init__()
        if model.cfg.encoder.conv_kernel:
            raise ConfigError(f"this model reads a window of tokens through its convolution "
                              f"({setting_name('conv_kernel')}), which one step graph cannot carry; "
                              "export a model without a conv front end")
        self.stepper = lm_stepper(model)  # fp32: the graph carries the exact weights
        self.cfg, self.layout = model.cfg, state_layout(model)
        self.names = model.encoder.layers[0].state_names
        # per state name: stacked over layers (one input) when every layer's shape agrees
        self.stacked = [len({shapes[i] for shapes in self.layout}) == 1 for i in range(len(self.names))]

    def input_names(self) -> list[str]:
        out = ["ids"]
        for name, stacked in zip(self.names, self.stacked):
            out += [name] if stacked else [f"{name}_l{i}" for i in range(len(self.layout))]
        return out

    def forward(self, ids, *inputs):
        per_layer, it = [[None] * len(self.names) for _ in self.layout], iter(inputs)
        for j, stacked in enumerate(self.stacked):
            parts = next(it) if stacked else [next(it) for _ in self.layout]
            for i in range(len(self.layout)):
                per_layer[i][j] = parts[i]
        logits, state = self.stepper.step(ids, [tuple(layer) for layer in per_layer])
        outs = []
        for j, stacked in enumerate(self.stacked):
            tensors = [layer[j] for layer in state]
            outs += [torch.stack(tensors)] if stacked else tensors
        return (logits, *outs)

    def example(self, batch: int = 2) -> tuple:
        """Example inputs (ids and zero states at `batch`) for tracing."""
        ids = torch.full((batch,), 2, dtype=torch.long)
        states = []
        for j, stacked in enumerate(self.stacked):
            shapes = [layer[j] for layer in self.layout]
            states += ([torch.zeros(len(shapes), batch, *shapes[0])] if stacked
                       else [torch.zeros(batch, *shape) for shape in shapes])
        return (ids, *states)

    def dynamic_shapes(self) -> tuple:
        batch = torch.export.Dim("batch", min=1)
        states = []
        for j, stacked in enumerate(self.stacked):
            states += [{1: batch}] if stacked else [{0: batch} for _ in self.layout]
        return {0: batch}, tuple(states)  # as forward takes them: ids, then *inputs

    def metadata(self) -> dict:
        enc = self.cfg.encoder
        return {"textrnn_cell": enc.cell, "num_layers": enc.num_layers,
                "hidden_size": enc.hidden_size, "vocab_size": self.cfg.vocab_size,
                "state": ", ".join(self.names)}
