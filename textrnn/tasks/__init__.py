"""The tasks, and the one dict that maps a task's name (config.json's "task") to it.
Whatever depends on the kind of work dispatches through `TASKS`; a new task is a module
with a class that subclasses `Task` (base.py), plus one entry here."""
from dataclasses import replace

from ..config import EncoderConfig, ModelConfig, migrate
from ..errors import ConfigError
from ..models.cells import check_activation, check_front_end
from ..models.cells import CELLS
from ..plugins import load
from ..run_files import WRITTEN
from ..settings import check, from_dict
from .base import Endpoint, LoadedRun, SourceSettings, Task
from .classify import Classifier, ClassifierHeadConfig, ClassifierTask, LabelledDataConfig
from .forecast import ForecastHeadConfig, ForecastTask, Forecaster, SeriesDataConfig
from .language_model import LanguageModel
from .lm import DataConfig, LMHeadConfig, LMTask
from .speech import SpeechDataConfig, SpeechHeadConfig, SpeechTask, Transcriber
from .tag import TagTask, Tagger, TaggedDataConfig, TaggerHeadConfig
from .translate import ParallelDataConfig, TranslateTask, TranslatorHeadConfig
from .translator import Translator

TASKS: dict[str, type] = {"lm": LMTask, "classifier": ClassifierTask, "forecaster": ForecastTask,
                          "translator": TranslateTask, "tagger": TagTask, "speech": SpeechTask}


def run_files() -> set:
    """What any run leaves in its folder: the files every run writes (run_files.WRITTEN),
    every task's encoding files and its plots; the checkpointer clears them for a fresh run,
    and a Hub download or push takes them (hub.py)."""
    names = set(WRITTEN)
    for task in TASKS.values():
        names.update(e.file for e in task.encodings)
        names.update(task.plots)
    return names


def load_plugins() -> None:
    """Tasks and cells of other packages (plugins.py), into TASKS and CELLS."""
    load("textrnn.tasks", TASKS)
    load("textrnn.cells", CELLS)


def get_task(name) -> type:
    if name not in TASKS:
        load_plugins()  # a task of another package, declared as an entry point
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; this textrnn knows {', '.join(TASKS)}")
    return TASKS[name]


def task_of(run) -> type:
    """The task of a loaded run (its config's, as checkpoint.load made it)."""
    return get_task(run.config.task)


def encoding_of(cfg: ModelConfig):
    """The encoding (encodings.py) a run of `cfg` keeps: its task's one of that kind."""
    task = get_task(cfg.task)
    for encoding in task.encodings:
        if cfg.tokenizer in encoding.kinds:
            return encoding
    kinds = [k for e in task.encodings for k in e.kinds]
    raise ConfigError(f"a {task.Loaded.noun} keeps its data's encoding as {', '.join(kinds)}, not "
                      f"{cfg.tokenizer!r}; use the files saved with the run")


def check_model_config(cfg: ModelConfig) -> ModelConfig:
    """Every declared range and choice, the cell's activation, the encoding's kind, then the
    task's own rules; returns `cfg`."""
    task = get_task(cfg.task)
    if cfg.encoder.cell not in CELLS:
        load("textrnn.cells", CELLS)  # a cell of another package, declared as an entry point
    if not isinstance(cfg.head, task.Head):
        raise ConfigError(f"a {cfg.task} model needs head settings of type {task.Head.__name__}")
    check(cfg)
    check_activation(cfg.encoder.cell, cfg.encoder.activation)
    check_front_end(cfg.encoder.cell, cfg.encoder.conv_kernel)
    if cfg.vocab_size:  # the encoding is known (a run's data or its folder made it)
        encoding_of(cfg)
    task.check_model(cfg)
    return cfg


def build_model(cfg: ModelConfig):
    """The task's model for `cfg`, its settings checked first."""
    check_model_config(cfg)
    if not 1 <= cfg.vocab_size <= 10_000_000:
        raise ConfigError(f"vocab-size must be >= 1 and <= 10000000, got {cfg.vocab_size}")
    return TASKS[cfg.task].build_model(cfg)


def config_from_dict(data: dict, what: str = "config.json") -> ModelConfig:
    """A ModelConfig from its JSON object (textrnn 0.1.0's flat layout included)."""
    task = get_task(data.get("task", "lm"))
    data = migrate(data, {f for f in task.Head.__dataclass_fields__})
    if isinstance(data.get("head"), dict):  # a field newer than the file: the value it meant then
        data = {**data, "head": {**getattr(task.Head, "BEFORE_IT_EXISTED", {}), **data["head"]}}
    cfg = from_dict(ModelConfig, data, what)
    cfg.encoder = from_dict(EncoderConfig, cfg.encoder, f"{what} (encoder)")
    cfg.head = from_dict(task.Head, cfg.head, f"{what} (head)")
    return check_model_config(cfg)


def for_task(cfg: ModelConfig, task: str) -> ModelConfig:
    """`cfg` as settings of a `task` model: its head's defaults if it names no head."""
    return replace(cfg, task=task, head=cfg.head if cfg.head is not None else get_task(task).Head())


__all__ = ["TASKS", "Task", "load_plugins", "Endpoint", "LoadedRun", "SourceSettings", "get_task", "encoding_of",
           "build_model", "config_from_dict", "check_model_config", "for_task", "DataConfig",
           "LabelledDataConfig", "LMHeadConfig", "ClassifierHeadConfig", "LanguageModel",
           "Classifier", "LMTask", "ClassifierTask", "ForecastTask", "Forecaster",
           "ForecastHeadConfig", "SeriesDataConfig", "ParallelDataConfig", "TranslateTask",
           "Translator", "TranslatorHeadConfig", "TagTask", "Tagger", "TaggedDataConfig",
           "TaggerHeadConfig", "SpeechTask", "Transcriber", "SpeechDataConfig", "SpeechHeadConfig"]
