"""The tasks, and the one dict that maps a task's name (config.json's "task") to it.
Whatever depends on the kind of work dispatches through `TASKS`; a new task is a module
with a class that follows `Task`, plus one entry here."""
from dataclasses import replace

from ..config import EncoderConfig, ModelConfig, migrate
from ..errors import ConfigError
from ..settings import check, from_dict
from .base import SourceSettings, Task
from .classify import Classifier, ClassifierHeadConfig, ClassifierTask, LabelledDataConfig
from .forecast import ForecastHeadConfig, ForecastTask, Forecaster, SeriesDataConfig
from .lm import DataConfig, LanguageModel, LMTask, LMHeadConfig
from .translate import ParallelDataConfig, TranslateTask, TranslatorHeadConfig
from .translator import Translator

TASKS: dict[str, type] = {"lm": LMTask, "classifier": ClassifierTask, "forecaster": ForecastTask,
                          "translator": TranslateTask}


def get_task(name) -> type:
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; this textrnn knows {', '.join(TASKS)}")
    return TASKS[name]


def check_model_config(cfg: ModelConfig) -> ModelConfig:
    """Every declared range and choice, then the task's own rules; returns `cfg`."""
    task = get_task(cfg.task)
    if not isinstance(cfg.head, task.Head):
        raise ConfigError(f"a {cfg.task} model needs head settings of type {task.Head.__name__}")
    check(cfg)
    if cfg.tokenizer == "pair" and not getattr(task, "reads_pairs", False):
        raise ConfigError(f"a {cfg.task} reads one tokenizer, not a pair (one per language); "
                          "use the files saved with the run")
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
    cfg = from_dict(ModelConfig, data, what)
    cfg.encoder = from_dict(EncoderConfig, cfg.encoder, f"{what} (encoder)")
    cfg.head = from_dict(task.Head, cfg.head, f"{what} (head)")
    return check_model_config(cfg)


def for_task(cfg: ModelConfig, task: str) -> ModelConfig:
    """`cfg` as settings of a `task` model: its head's defaults if it names no head."""
    return replace(cfg, task=task, head=cfg.head if cfg.head is not None else get_task(task).Head())


__all__ = ["TASKS", "Task", "SourceSettings", "get_task", "build_model", "config_from_dict",
           "check_model_config", "for_task", "DataConfig", "LabelledDataConfig",
           "LMHeadConfig", "ClassifierHeadConfig", "LanguageModel", "Classifier",
           "LMTask", "ClassifierTask", "ForecastTask", "Forecaster", "ForecastHeadConfig",
           "SeriesDataConfig", "ParallelDataConfig", "TranslateTask", "Translator",
           "TranslatorHeadConfig"]
