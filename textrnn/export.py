"""`textrnn export`: one recurrent step of a language model as an ONNX graph, to run it
outside Python (onnxruntime, a browser, a phone).

The graph is the stepper that sampling uses (models/stepper.py), traced by torch's ONNX
exporter, so it computes what `generate` computes:

    inputs   ids (B,) int64            each stream's newest token
             h   (L, B, H) float32     every layer's hidden state, bottom layer first
             c   (L, B, H) float32     an LSTM's cell states (LSTMs only)
    outputs  logits (B, vocab) float32, h_out (L, B, H), c_out (L, B, H) (LSTMs only)

(With an adaptive softmax the "logits" are log-probabilities; either way the larger, the
likelier.)
B is free (a dynamic axis). A text starts from zero states; its prompt goes through the
same graph one token at a time, and the last prompt token's logits choose the first new
token. The graph's metadata holds the cell, the sizes and the <pad>/<unk> ids, which a
sampler must never choose.
"""
import contextlib
import importlib.util
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, first_line
from .files import atomic_write
from .tokenization import PAD_ID, UNK_ID

FORMATS = ("onnx",)
OPSET = 18  # below torch 2.13's default (20), so runtimes from onnxruntime 1.14 on read it


class StepGraph(nn.Module):
    """A language model's stepper with its state as stacked tensors: (ids, h[, c]) ->
    (logits, h_out[, c_out]), shapes as in the module's docstring."""

    def __init__(self, model):
        super().__init__()
        self.stepper = model.stepper()  # fp32: the graph carries the exact weights
        self.lstm = model.cfg.encoder.cell == "lstm"

    def forward(self, ids, h, c=None):
        L = h.size(0)
        state = [(h[i], c[i]) if self.lstm else h[i] for i in range(L)]  # each (B, H)
        logits, state = self.stepper.step(ids, state)  # (B, vocab)
        if not self.lstm:
            return logits, torch.stack(state)  # (L, B, H)
        return logits, torch.stack([s[0] for s in state]), torch.stack([s[1] for s in state])


@contextlib.contextmanager
def _quiet(*names):
    """The loggers of these names report errors only, inside the block."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _check_exportable(lm) -> None:
    """One line for what the step graph cannot hold."""
    from .tasks import LanguageModel  # tasks import the models; this module stays below them
    if not isinstance(lm, LanguageModel):
        raise ConfigError(f"{lm.run_dir} holds a {lm.noun}; export writes a language model's "
                          "step, pass a language-model run folder")
    if lm.model.cfg.encoder.conv_kernel:
        raise ConfigError("this model reads a window of tokens through its convolution "
                          "(--conv-kernel), which one step graph cannot carry; export a model "
                          "without a conv front end")


def export_onnx(lm, out) -> Path:
    """Write `lm`'s step graph (see the module docstring) to `out`, atomically."""
    _check_exportable(lm)
    _require_exporter()
    enc = lm.model.cfg.encoder
    graph = StepGraph(lm.model.cpu().eval())
    proto = _trace(graph, enc.num_layers, enc.hidden_size)
    meta = {"textrnn_cell": enc.cell, "num_layers": enc.num_layers, "hidden_size": enc.hidden_size,
            "vocab_size": lm.model.cfg.vocab_size, "pad_id": PAD_ID, "unk_id": UNK_ID,
            "state": "h, c" if graph.lstm else "h"}
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=str(value))
    out = Path(out)
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    return out


def _require_exporter() -> None:
    if tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 6):
        raise ConfigError(f"ONNX export needs torch 2.6 or newer (this is {torch.__version__}); "
                          "upgrade torch")
    if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript")):
        raise ConfigError("ONNX export needs the onnx and onnxscript packages: "
                          "pip install 'textrnn[export]'")


def _trace(graph: StepGraph, layers: int, hidden: int):
    """The graph as an ONNX ModelProto, its batch axis dynamic."""
    B = 2  # an example batch; the axis is exported as dynamic
    ids = torch.full((B,), PAD_ID + 2, dtype=torch.long)
    h = torch.zeros(layers, B, hidden)  # (L, B, H)
    args = (ids, h, torch.zeros_like(h)) if graph.lstm else (ids, h)
    batch = torch.export.Dim("batch", min=1)
    shapes = {"ids": {0: batch}, "h": {1: batch}, **({"c": {1: batch}} if graph.lstm else {})}
    # The exporter reports its stages on stdout and warns about its own internals (in
    # warnings and in torch's log); the command prints the one line that matters.
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), _quiet("torch.onnx", "onnxscript", "onnx_ir"):
        warnings.simplefilter("ignore")
        try:
            return torch.onnx.export(graph, args, dynamo=True, dynamic_shapes=shapes,
                                     opset_version=OPSET, input_names=["ids", "h", "c"][: len(args)],
                                     output_names=["logits", "h_out", "c_out"][: len(args)]).model_proto
        except Exception as exc:  # the exporter raises many kinds; each is one line here
            raise ConfigError(f"torch's ONNX exporter could not export this model "
                              f"({first_line(exc, 200)}); run with --debug for details") from exc
