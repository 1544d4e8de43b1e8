"""Whole training runs, as the CLI and the recipes start them."""
from .classifier import LabelledDataConfig, Splits, check_classifier_run, load_splits, train_classifier
from .common import RUN_SETTINGS, prepare_run_dir
from .lm import DataConfig, check_lm_run, train_language_model

__all__ = ["DataConfig", "LabelledDataConfig", "RUN_SETTINGS", "Splits", "check_classifier_run",
           "check_lm_run", "load_splits", "prepare_run_dir", "train_classifier",
           "train_language_model"]
