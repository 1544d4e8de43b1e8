"""textrnn: recurrent neural text models (RNN, LSTM, GRU) in PyTorch."""
from .checkpoint import load_pretrained, save_pretrained
from .config import ModelConfig
from .data.corpus import split_tail
from .data.ids import encode_stream
from .data.sources import load_corpus, open_corpus
from .data.tables import load_table
from .errors import CheckpointError, ConfigError, DataError, TextRNNError, TrainingDiverged
from .generation import SamplingConfig
from .models import ElmanRNN, RNNClassifier, RNNEncoder, RNNLanguageModel, build_model
from .pipelines import (DataConfig, LabelledDataConfig, check_classifier_run, check_lm_run, load_splits,
                        train_classifier, train_language_model)
from .pretrained import Classifier, LanguageModel, load
from .tasks import ClassifierTask, LMTask
from .tokenization import load_tokenizer, train_tokenizer
from .training import Trainer, TrainConfig
from .version import __version__

__all__ = [
    "Classifier", "ClassifierTask", "LabelledDataConfig", "train_classifier",
    "CheckpointError", "ConfigError", "DataConfig", "DataError", "ElmanRNN", "LMTask",
    "LanguageModel", "ModelConfig", "RNNClassifier", "RNNEncoder", "RNNLanguageModel",
    "SamplingConfig", "TextRNNError", "TrainConfig", "Trainer", "TrainingDiverged",
    "__version__", "build_model", "check_classifier_run", "check_lm_run", "encode_stream", "load",
    "load_corpus", "load_pretrained", "load_splits", "load_table", "load_tokenizer", "open_corpus",
    "save_pretrained", "split_tail", "train_language_model", "train_tokenizer",
]
