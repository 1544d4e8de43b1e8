"""The task interface: everything the core (the training loop, the run folder, `textrnn.load`,
the `textrnn` command, the server and its page) knows about a kind of work. A task is a
class that subclasses `Task`; `TASKS` maps its name to it. The core reads only what is
declared here and never compares a string with a task's name.

How a run calls a task, in order (training/run.py, training/loop.py):

 1. check_model(cfg), check_settings(data_cfg, model_cfg, train_cfg)
                                       settings that contradict each other, before any data
 2. read_data(data_cfg, seed, saved)   the data, read and checked (`saved`: a resumed run's config)
 3. fit_to_size(data, data_cfg)        settings for this much data, where the user typed none
 4. the model and its encoding, one of:
      fresh:       new_encoding(data, data_cfg) -> complete(cfg, data) -> build_model(cfg)
                   -> start_weights(model, data)
      --resume:    the run folder's own (checked by check_encoding on load)
      --init-from: from_language_model(lm, tokenizer, data, data_cfg, model_cfg)
 5. prepare(data, encoding, data_cfg, train_cfg, run_dir, model_cfg) -> the task instance
 6. the loop, each step: num_batches(epoch), batch(epoch, i), weight(batch) (under
    torchrun, unless `own_share`), loss(model, batch, carry, device), tokens(batch);
    skips_parameters(model) once, when the model is wrapped for several processes;
    data_state() at each save, restore_data_state(state, where) on --resume
 7. evaluate(model, device, precision) every --eval-every steps, the kept model's again
    with final=True at the end if `sampled_eval`
 8. report(model, metrics, folder, device, precision): test scores and plots

A run folder is read back (checkpoint.py) through `encodings` (which file holds the data's
encoding), check_encoding and build_model, and handed to the user as `Loaded`. Using it:
`verb` is its command (`textrnn sample RUN ...`), `Use` the settings of that command and
`use(run, settings, write, progress)` what it does; `textrnn evaluate RUN` resolves `Evaluation` and
calls the loaded run's `evaluate_source`; `endpoint` is what `textrnn serve` answers for it.

Shapes: B examples (or columns) per batch, T time steps, V vocabulary, C classes.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from ..config import ModelConfig
from ..encodings import TOKENIZER
from ..errors import ConfigError, DataError, setting_name
from ..settings import setting
from ..tokenization import check_characters


@dataclass(frozen=True)
class Endpoint:
    """A task's route under /v1 of `textrnn serve`.

    request: a dataclass of the JSON body, its fields declared with `setting()` (their types,
    defaults and help become the API's schema and the page's generic form); `handle(server,
    name, run, body) -> dict` answers it (may be async; `server` as serve/app.py's `Server`
    offers: cfg, cap, cap_texts, generate); `panel`: a script beside the task's module that
    draws its panel on the page (None: the generic form, its answer shown as JSON);
    `stepped`: the server keeps a step batcher for each of its runs (`server.generate`);
    `upload_kb`: the ServeConfig cap (in KiB) of what its requests upload, when that may pass
    --max-body-kb (its bodies may then hold that much in base64, or in a multipart form);
    `routes(api, server, task) -> paths`: adds more routes under /v1 (OpenAI-shaped ones,
    whose errors take OpenAI's shape) and returns their paths."""
    path: str
    summary: str
    request: type
    handle: Callable
    panel: str | None = None
    stepped: bool = False
    upload_kb: str | None = None
    routes: Callable | None = None


class Task:
    """A kind of work (language modelling, classification, ...): subclass it, declare what
    the class attributes below ask, implement the hooks in the order this module's docstring
    lists, and add the class to `TASKS`; the commands, loading and serving follow. An
    instance, made by `prepare`, holds one run's data and gives its batches, loss and
    evaluation."""
    # ---- what the task is -----------------------------------------------------------
    name: ClassVar[str]           # config.json's "task", the key in TASKS
    command: ClassVar[str]        # its training command, e.g. "train-lm"
    Head: ClassVar[type]          # dataclass of the head's settings: ModelConfig.head
    Data: ClassVar[type]          # dataclass of the data settings; its `data` field names the source
    Loaded: ClassVar[type]        # what textrnn.load returns (a LoadedRun)
    encodings: ClassVar[tuple] = (TOKENIZER,)  # what its run folders may keep (encodings.py)
    command_defaults: ClassVar[dict] = {}  # `textrnn train-...`'s defaults, where they differ from the fields'
    encoder_flags_skip: ClassVar[tuple] = ()  # encoder settings the task has no use for
    metric: ClassVar[str]         # the key of evaluate()'s dict that selects the best weights
    mode: ClassVar[str]           # "min" or "max": which way that metric improves
    sampled_eval: ClassVar[bool] = False  # periodic evaluations read part of the validation data
    loss_unit: ClassVar[str]      # what one unit of the loss is, for the plot's axis
    plots: ClassVar[tuple] = ()   # the PNG files its report draws in the run folder
    pipeline_tag: ClassVar[str | None] = None  # the Hub's name for the task, on its model card
    eval_batch_size: ClassVar[int] = 64  # examples per evaluation batch (--eval-batch-size 0)
    unit: ClassVar[str] = "tokens"  # what tokens(batch) counts: the progress bar's rate is these per second
    # --size auto's candidates (training/sizing.py), smallest first: encoder settings by name;
    # none: the task's runs take the size they are given.
    sizes: ClassVar[dict] = {}

    # ---- using a run ---------------------------------------------------------------------
    verb: ClassVar[str]           # its use command: `textrnn <verb> RUN ...`
    verb_help: ClassVar[str]      # one line for `textrnn --help`
    Use: ClassVar[type]           # dataclass of the verb's settings (its flags)
    use_defaults: ClassVar[dict] = {}  # the verb's defaults, where they differ from the fields'
    Evaluation: ClassVar[type]    # dataclass of `textrnn evaluate`'s settings for its runs
    endpoint: ClassVar[Endpoint | None] = None

    @staticmethod
    def use(run, settings, write: Callable[[str], Any], progress: bool) -> None:
        """Do the verb on a loaded run; `write(text)` puts its output on stdout; `progress`:
        a long job may show a progress bar (on stderr)."""
        raise NotImplementedError

    # ---- the model --------------------------------------------------------------------
    @staticmethod
    def check_model(cfg: ModelConfig) -> None:
        """Refuse settings that contradict each other (ConfigError); `cfg.vocab_size` and
        fields derived from data may still be unset."""

    @staticmethod
    def check_settings(data_cfg, model_cfg: ModelConfig, train_cfg) -> None:
        """Refuse data settings that contradict the model's or training's (ConfigError),
        before any data is read."""

    @staticmethod
    def build_model(cfg: ModelConfig) -> nn.Module:
        """A model whose forward computes the loss when the batch holds targets."""
        raise NotImplementedError

    @staticmethod
    def check_encoding(encoding, cfg: ModelConfig, path) -> None:
        """Refuse a saved encoding that does not fit config.json beyond its size (checked by
        the core): CheckpointError."""

    @staticmethod
    def skips_parameters(model: nn.Module) -> bool:
        """Whether a step may leave some parameters without a gradient (then data-parallel
        training must look for them)."""
        return False

    # ---- a run: source -> encoding -> ids -> batches -----------------------------------
    @staticmethod
    def read_data(data_cfg, seed: int, saved: ModelConfig | None) -> Any:
        """Read and check the data; `saved` is the config of a run being resumed."""
        raise NotImplementedError

    @staticmethod
    def new_encoding(data, data_cfg) -> tuple[str, Any]:
        """(kind, encoding) learnt from the training data, for a fresh model: a tokenizer of
        `kind`, or another of its `encodings`."""
        raise NotImplementedError

    @staticmethod
    def complete(cfg: ModelConfig, data) -> ModelConfig:
        """`cfg` with the head fields that only the data fixes (labels, say) filled in."""
        return cfg

    @staticmethod
    def start_weights(model: nn.Module, data) -> None:
        """Weights a fresh model takes from its data's side before training (a tagger's
        embedding language models); by default none."""

    @staticmethod
    def from_language_model(lm: nn.Module, tokenizer, data, data_cfg, model_cfg: ModelConfig):
        """(model, tokenizer) for --init-from a language-model run (or ConfigError)."""
        raise ConfigError(f"this task trains from scratch; leave out {setting_name('init_from')}")

    @staticmethod
    def fit_to_size(data, data_cfg) -> dict:
        """Settings by field name (data, encoder or training) that suit this much data; a run
        uses them wherever the user typed no value."""
        return {}

    @staticmethod
    def recipe_preset(given: dict) -> dict:
        """The settings of the task's recipe for what the user typed (say, a sample's or a
        real corpus's, as `given` holds --data or not)."""
        return {}

    @classmethod
    def prepare(cls, data, encoding, data_cfg, train_cfg, run_dir, model_cfg: ModelConfig) -> "Task":
        """The task with its data as ids (or scaled values), ready to hand out batches;
        `model_cfg` is the model's complete config."""
        raise NotImplementedError

    # ---- batches, loss and evaluation (an instance holds the data) ---------------------
    # batch() gives this process's share of the global batch itself (a stream that each
    # process reads its own part of), rather than the global batch for the loop to split.
    own_share: ClassVar[bool] = False

    def num_batches(self, epoch: int) -> int:
        raise NotImplementedError

    def batch(self, epoch: int, i: int) -> tuple:
        """Batch i of an epoch, CPU tensors: the same (epoch, i) always gives the same batch
        (data read as a stream: in order, the last few given again when asked again)."""
        raise NotImplementedError

    def data_state(self):
        """Where the data stands, for training_state.pt, where (epoch, i) alone does not say
        it (a stream's position); None: nothing to keep."""
        return None

    def restore_data_state(self, state, where: str) -> None:
        """On --resume, go back to what `data_state()` gave (`where`: the file, for errors)."""
        if state is not None:
            raise ConfigError(f"{where} holds the position of a stream: the run read its data "
                              f"with {setting_name('streaming', True)}; resume it with the same settings")

    def tokens(self, batch) -> int:
        """Tokens in a batch, for the tokens-per-second figure."""
        raise NotImplementedError

    def weight(self, batch) -> float:
        """A batch's weight in the global mean loss (training.distributed.shard): by default
        its examples (dim 0)."""
        return batch[0].shape[0]

    def loss(self, model: nn.Module, batch, carry, device) -> tuple:
        """(scalar loss through model.forward, carry for the next batch). `carry` is what
        flows from one batch to the next: an LM's hidden state, else None."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, device, precision: str, final: bool = False) -> dict:
        """Validation metrics, `metric` among them; `final` asks for the full figures."""
        raise NotImplementedError

    def report(self, model: nn.Module, metrics: dict, folder, device, precision: str) -> dict:
        """Extra results of the kept model (e.g. {"test": {...}}), drawn with `folder`'s
        plot methods; merged into metrics.json and the run's result. A decoding setting
        chosen here on validation goes into the model's config and `folder.save_kept(model)`
        writes it (a translator's length penalty)."""
        return {}


def check_texts(texts) -> list[str]:
    """A list of non-empty texts, or the reason it is not (for predict, translate)."""
    if isinstance(texts, str):
        raise TypeError("pass a list of texts, e.g. [text]")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"text {i + 1} is empty; every text needs some words")
        check_characters(t, f"text {i + 1}")
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

    def info(self) -> dict:
        """What GET /v1/models says of the run besides its task, step and config."""
        return {}

    def evaluate_source(self, sources: list, settings, progress: bool = False,
                        batch_size: int | None = None) -> dict:
        """`textrnn evaluate`: the run's scores on `sources` (the --data values), read with
        `settings` (the task's Evaluation), `batch_size` examples at a time."""
        raise ConfigError(f"a {self.noun} has no evaluation on data")

    @staticmethod
    def describe(metrics: dict) -> str:
        """Metrics as text for the terminal."""
        return "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in metrics.items() if not isinstance(v, (dict, list)))

    def step_graph(self):
        """(module, example args, input names, output names, dynamic shapes, metadata) of the
        run's one step for ONNX export; runs without one refuse."""
        raise ConfigError(f"a {self.noun} has no step to export; export takes a language model's run")


def one_source(sources, what: str):
    """The one data source a task's evaluation reads (of `textrnn evaluate --data`'s values)."""
    if isinstance(sources, (list, tuple)):
        if len(sources) != 1:
            raise ConfigError(f"{setting_name('data')} takes one source for {what}, got {len(sources)}")
        return sources[0]
    return sources


@dataclass
class SourceSettings:
    """Where a Hub dataset or a table keeps its text: the text tasks' data settings build on
    these (a task whose data is not one text column declares its own)."""
    text_column: str | None = setting(None, "column holding the text in tables and Hub datasets "
                                      "(default: text, sentence, content or review)")
    split: str = setting("train", "dataset split of --data for Hub ids")
    data_config: str | None = setting(None, "dataset configuration name for Hub ids")
