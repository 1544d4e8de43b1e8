"""Whole training runs, as the CLI and the recipes start them."""
from .classifier import LabelledDataConfig, train_classifier
from .common import RUN_SETTINGS, prepare_run_dir
from .lm import DataConfig, train_language_model

__all__ = ["DataConfig", "LabelledDataConfig", "RUN_SETTINGS", "prepare_run_dir",
           "train_classifier", "train_language_model"]
