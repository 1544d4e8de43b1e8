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
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError
from .files import atomic_write
from .models.onnx_step import require_exporter, trace
from .tokenization import PAD_ID, UNK_ID

FORMATS = ("onnx",)


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
    require_exporter()
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


def _trace(graph: StepGraph, layers: int, hidden: int):
    """The graph as an ONNX ModelProto, its batch axis dynamic."""
    B = 2  # an example batch; the axis is exported as dynamic
    ids = torch.full((B,), PAD_ID + 2, dtype=torch.long)
    h = torch.zeros(layers, B, hidden)  # (L, B, H)
    args = (ids, h, torch.zeros_like(h)) if graph.lstm else (ids, h)
    batch = torch.export.Dim("batch", min=1)
    shapes = {"ids": {0: batch}, "h": {1: batch}, **({"c": {1: batch}} if graph.lstm else {})}
    return trace(graph, args, ["ids", "h", "c"][: len(args)],
                 ["logits", "h_out", "c_out"][: len(args)], shapes)
