"""Typed configs. Defaults live here; unknown keys fail; the resolved config is saved with a run."""
import dataclasses
from dataclasses import dataclass, field

from .errors import ConfigError, check_range

CELLS = ("lstm", "gru", "rnn", "elman")
ACTIVATIONS = ("tanh", "relu", "sigmoid")
POOLINGS = ("last", "mean", "max", "concat", "attention")
TASKS = ("lm", "classifier")


@dataclass
class ModelConfig:
    """Architecture of an embedding -> RNN -> head model; what `config.json` holds."""
    task: str = "lm"                 # "lm" (next token) or "classifier"
    tokenizer: str = "char"          # kind of tokenizer.json: char | word | bpe
    vocab_size: int = 0
    cell: str = "lstm"               # lstm | gru | rnn (torch kernels) | elman (written out)
    activation: str = "tanh"         # rnn/elman non-linearity
    embed_dim: int = 128
    hidden_size: int = 512
    num_layers: int = 2
    bidirectional: bool = False      # classifier only: a language model must not see the future
    dropout: float = 0.25            # locked dropout on embeddings, between layers, on the output
    embed_dropout: float = 0.0       # drop whole word types (Gal & Ghahramani 2016)
    weight_drop: float = 0.0         # DropConnect on hidden-to-hidden weights (Merity et al. 2017)
    tie_weights: bool = False        # share input and output embeddings (Press & Wolf 2017)
    adaptive_cutoffs: list = field(default_factory=list)  # lm: token ids where adaptive-softmax
                                     # tail clusters start (Grave et al. 2017); empty: full softmax
    conv_kernel: int = 0             # >0 puts a 1-D convolution before the RNN (a CRNN)
    pooling: str = "last"            # classifier: last | mean | max | concat | attention
    head_hidden: int = 0             # classifier: >0 adds ULMFiT's BatchNorm + ReLU layer of this width
    labels: list = field(default_factory=list)  # classifier label names, index = class id

    def validate(self) -> "ModelConfig":
        choices = {"task": TASKS, "cell": CELLS, "activation": ACTIVATIONS, "pooling": POOLINGS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}, "
                                  f"got {getattr(self, name)!r}")
        # The upper limits only catch typos; far smaller sizes already exhaust memory.
        for name, high in (("vocab_size", 10_000_000), ("embed_dim", 1 << 16),
                           ("hidden_size", 1 << 16), ("num_layers", 100)):
            check_range(name.replace("_", "-"), getattr(self, name), 1, high)
        for name in ("dropout", "embed_dropout", "weight_drop"):
            check_range(name.replace("_", "-"), getattr(self, name), 0, 1, high_open=True)
        check_range("conv-kernel", self.conv_kernel, 0, 100)
        check_range("head-hidden", self.head_hidden, 0, 1 << 16)
        self._check_cutoffs()
        if self.task == "lm" and self.bidirectional:
            raise ConfigError("a language model cannot be bidirectional; drop --bidirectional")
        if self.tie_weights and self.task == "lm" and self.embed_dim != self.hidden_size:
            # The head reads the last hidden state, so tying needs equal widths.
            raise ConfigError(f"--tie-weights needs --embed-dim equal to --hidden-size "
                              f"(got {self.embed_dim} and {self.hidden_size})")
        if self.task == "classifier" and len(self.labels) < 2:
            raise ConfigError("a classifier needs at least two labels")
        return self

    def _check_cutoffs(self):
        cuts = self.adaptive_cutoffs
        if not isinstance(cuts, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in cuts):
            raise ConfigError(f"adaptive-cutoffs must be a list of token ids, got {cuts!r}")
        for c in cuts:
            check_range("adaptive-cutoffs", c, 1, 10_000_000)
        if any(a >= b for a, b in zip(cuts, cuts[1:])):
            raise ConfigError(f"--adaptive-cutoffs must increase, got {cuts}")

    def tail_cutoffs(self) -> list[int]:
        """The adaptive-softmax cutoffs inside the vocabulary: a small vocabulary, known
        only once its tokenizer is trained, may leave fewer clusters, or none."""
        return [c for c in self.adaptive_cutoffs if c < self.vocab_size]


def from_dict(cls, data: dict, what: str):
    """Build dataclass `cls` from `data`, refusing keys the class does not know."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{what} has unknown keys {unknown}; it was written by a different "
                          "textrnn version, upgrade textrnn or retrain")
    return cls(**data)
