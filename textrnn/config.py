"""Model configs: the encoder every task shares, and a head whose settings the task owns.

config.json holds a `ModelConfig`: {"task", "tokenizer", "vocab_size", "encoder": {...},
"head": {...}}. The tokenizer kind and vocabulary size are derived from the data when a
run starts; the head's class is the task's (`TASKS[task].Head`).
"""
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .models.cells import CELLS
from .settings import setting

ACTIVATIONS = ("tanh", "relu", "sigmoid")


@dataclass
class EncoderConfig:
    """Embedding -> [1-D convolution] -> stacked recurrent layers."""
    cell: str = setting("lstm", "recurrent cell: lstm, gru, rnn (torch kernels), elman (the "
                        "Elman network written out), or mingru, minlstm, rglru, mlstm (gates from "
                        "the input only: a sequence trains as large products and a scan)", choices=CELLS)
    activation: str = setting("tanh", "rnn/elman non-linearity (the gated cells have their own)",
                              choices=ACTIVATIONS)
    num_layers: int = setting(2, "stacked recurrent layers", low=1, high=100)
    # The upper limits only catch typos; far smaller sizes already exhaust memory.
    embed_dim: int = setting(128, "token embedding width", low=1, high=1 << 16)
    hidden_size: int = setting(512, "recurrent state width", low=1, high=1 << 16)
    bidirectional: bool = setting(False, "read the text in both directions (not for a model "
                                  "that predicts what comes next: it must not see the future)")
    dropout: float = setting(0.25, "locked dropout on embeddings, between layers and on the output",
                             low=0, high=1, high_open=True)
    embed_dropout: float = setting(0.0, "drop whole tokens from the embedding", low=0, high=1,
                                   high_open=True)
    weight_drop: float = setting(0.0, "DropConnect on the hidden-to-hidden weights", low=0,
                                 high=1, high_open=True)
    conv_kernel: int = setting(0, "width of a 1-D convolution before the RNN (0: none)",
                               low=0, high=100)
    block: str = setting("plain", "how layers stack: plain (one cell's output feeds the next) or "
                         "residual (pre-norm cell and gated MLP, each with a residual, as Griffin "
                         "and xLSTM build deep stacks)", choices=("plain", "residual"))
    heads: int = setting(4, "mlstm: memory heads (the hidden size splits among them)", low=1,
                         high=1 << 12)
    chunk_size: int = setting(64, "mlstm: steps per chunk of its parallel training form (its "
                              "memory and time grow with it; the results do not change)",
                              low=1, high=1 << 16)


@dataclass
class ModelConfig:
    """Architecture of an embedding -> RNN -> head model; what config.json holds."""
    task: str = ""                    # a key of textrnn.TASKS (a training command sets it)
    # The kind of the data's encoding (encodings.py): a tokenizer's (char, word, bpe), or
    # another that the task's run folders keep (a scaler, a tokenizer per language).
    tokenizer: str = setting("char", "kind of the data's encoding (derived)", cli=False)
    vocab_size: int = setting(0, "the encoding's size: the model's input width (derived)", low=0,
                              high=10_000_000, cli=False)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: Any = None                  # the task's head settings (TASKS[task].Head)

    def to_dict(self) -> dict:
        return asdict(self)


# textrnn 0.1.0 wrote one flat object; these were its head keys, for every task alike.
V0_1_HEAD_KEYS = ("tie_weights", "adaptive_cutoffs", "pooling", "head_hidden", "labels")


def migrate(data: dict, head_fields) -> dict:
    """A config.json object in today's nested layout. One written by textrnn 0.1.0 (flat:
    encoder and head keys side by side, every task's head keys present) is split into
    encoder and head; the head keeps the ones this task's head has. Unknown keys stay
    where they are, so that they are still refused."""
    if "encoder" in data or "head" in data:
        return data
    data = dict(data)
    encoder_keys = {f.name for f in fields(EncoderConfig)}
    encoder = {k: data.pop(k) for k in list(data) if k in encoder_keys}
    head = {k: data.pop(k) for k in V0_1_HEAD_KEYS if k in data}
    return {**data, "encoder": encoder, "head": {k: v for k, v in head.items() if k in head_fields}}
