"""The task interface: everything the core (training loop, run folder, `textrnn.load`,
the CLI) knows about a kind of work. A task is a class; `TASKS` maps its name to it.

Shapes: B examples (or columns) per batch, T time steps, V vocabulary, C classes.
"""
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from torch import nn

from ..config import ModelConfig
from ..errors import DataError
from ..settings import setting


class Task(Protocol):
    # ---- what the task is -----------------------------------------------------------
    name: ClassVar[str]           # config.json's "task", the key in TASKS
    command: ClassVar[str]        # its training command, e.g. "train-lm"
    Head: ClassVar[type]          # dataclass of the head's settings: ModelConfig.head
    Data: ClassVar[type]          # dataclass of the data settings; its `data` field names the source
    Loaded: ClassVar[type]        # what textrnn.load returns: Loaded(model, tokenizer, run_dir, step),
                                  # with `noun` ("language model") and, for `textrnn evaluate`,
                                  # evaluate_source(source, text_column, label_column, split,
                                  # progress) -> metrics and describe(metrics) -> text
    command_defaults: ClassVar[dict]  # `textrnn train-...`'s defaults, where they differ from the fields'
    encoder_flags_skip: ClassVar[tuple]  # encoder settings the task has no use for
    metric: ClassVar[str]         # the key of evaluate()'s dict that selects the best weights
    mode: ClassVar[str]           # "min" or "max": which way that metric improves
    sampled_eval: ClassVar[bool]  # periodic evaluations read part of the validation data
    loss_unit: ClassVar[str]      # what one unit of the loss is, for the plot's axis

    # ---- the model --------------------------------------------------------------------
    @staticmethod
    def check_model(cfg: ModelConfig) -> None:
        """Refuse settings that contradict each other (ConfigError); `cfg.vocab_size` and
        fields derived from data may still be unset."""

    @staticmethod
    def build_model(cfg: ModelConfig) -> nn.Module:
        """A model whose forward computes the loss when the batch holds targets."""

    # ---- a run: source -> tokenizer -> ids -> batches -----------------------------------
    @staticmethod
    def read_data(data_cfg, seed: int, saved: ModelConfig | None) -> Any:
        """Read and check the data; `saved` is the config of a run being resumed."""

    @staticmethod
    def new_tokenizer(data, data_cfg) -> tuple[str, Any]:
        """(kind, tokenizer) learnt from the training data, for a fresh model."""

    @staticmethod
    def complete(cfg: ModelConfig, data) -> ModelConfig:
        """`cfg` with the head fields that only the data fixes (labels, say) filled in."""

    @staticmethod
    def from_language_model(lm: nn.Module, tokenizer, data, data_cfg, model_cfg: ModelConfig):
        """(model, tokenizer) for --init-from a language-model run (or ConfigError)."""

    # Optional: `fit_to_size(data, data_cfg) -> dict`, settings by flag name (data, encoder
    # or training) that suit this much data; the commands use them wherever the user typed
    # no value (training/run.py `fit_to_size`). The classifier's are in presets.py.

    @classmethod
    def prepare(cls, data, tokenizer, data_cfg, train_cfg, run_dir, model_cfg: ModelConfig) -> "Task":
        """The task with its data as token ids (or scaled values), ready to hand out
        batches; `model_cfg` is the model's complete config."""

    # ---- batches, loss and evaluation (an instance holds the data) ---------------------
    def num_batches(self, epoch: int) -> int: ...

    def batch(self, epoch: int, i: int) -> tuple:
        """Batch i of an epoch, CPU tensors: the same (epoch, i) always gives the same batch."""

    def tokens(self, batch) -> int:
        """Tokens in a batch, for the tokens-per-second figure."""

    def loss(self, model: nn.Module, batch, carry, device) -> tuple:
        """(scalar loss through model.forward, carry for the next batch). `carry` is what
        flows from one batch to the next: an LM's hidden state, else None."""

    def evaluate(self, model: nn.Module, device, precision: str, final: bool = False) -> dict:
        """Validation metrics, `metric` among them; `final` asks for the full figures."""

    def report(self, model: nn.Module, metrics: dict, folder, device, precision: str) -> dict:
        """Extra results of the kept model (e.g. {"test": {...}}), drawn with `folder`'s
        plot methods; merged into metrics.json and the run's result. A decoding setting
        chosen here on validation goes into the model's config and `folder.save_kept(model)`
        writes it (a translator's length penalty)."""


def check_texts(texts) -> list[str]:
    """A list of non-empty texts, or the reason it is not (for predict, translate)."""
    if isinstance(texts, str):
        raise TypeError("pass a list of texts, e.g. [text]")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"text {i + 1} is empty; every text needs some words")
    return list(texts)


class LoadedRun:
    """What every task's loaded class shares: the model in eval mode, the file that encodes
    its data (a tokenizer, or a forecaster's scaler), where it came from and at which step."""
    noun = "model"

    def __init__(self, model, tokenizer, run_dir=None, step=0):
        self.model, self.tokenizer = model, tokenizer
        self.run_dir, self.step = run_dir, step

    @property
    def config(self):
        return self.model.cfg

    @property
    def device(self):
        return next(self.model.parameters()).device


@dataclass
class SourceSettings:
    """Where a Hub dataset or a table keeps its text; every task's data settings have these."""
    text_column: str | None = setting(None, "column holding the text in tables and Hub datasets "
                                      "(default: text, sentence, content or review)")
    split: str = setting("train", "dataset split of --data for Hub ids")
    data_config: str | None = setting(None, "dataset configuration name for Hub ids")
