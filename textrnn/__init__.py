"""textrnn: recurrent neural text models (RNN, LSTM, GRU) in PyTorch."""
from . import presets, stages
from .checkpoint import load, load_pretrained, save_pretrained
from .commands import (Parser, RunOptions, RunSettings, exit_if_interrupted, parse_settings,
                       run_guarded, settings_from)
from .config import EncoderConfig, ModelConfig
from .data import Corpus, encode_stream, load_corpus, load_table, open_corpus, split_tail
from .data.sentence_pairs import Pairs, load_pairs
from .data.transcribed import Transcribed, load_transcribed
from .encodings import Encoding
from .errors import CheckpointError, ConfigError, DataError, TextRNNError, TrainingDiverged
from .inference.sampling import SamplingConfig
from .metrics import format_report
from .publish import push
from .models import CELLS, Cell, ElmanRNN, RNNClassifier, RNNEncoder, RNNLanguageModel
from .settings import add_flags, setting
from .tasks import (TASKS, Classifier, ClassifierHeadConfig, ClassifierTask, DataConfig, Endpoint,
                    ForecastHeadConfig, Forecaster, ForecastTask, LabelledDataConfig, LanguageModel,
                    LMHeadConfig, LMTask, LoadedRun, ParallelDataConfig, SeriesDataConfig,
                    SourceSettings, SpeechDataConfig, SpeechHeadConfig, SpeechTask, Tagger,
                    TaggedDataConfig, TaggerHeadConfig, TagTask, Task, Transcriber, TranslateTask,
                    Translator, TranslatorHeadConfig, build_model, config_from_dict)
from .tokenization import load_tokenizer, train_tokenizer
from .training import Run, TrainConfig, Trainer, prepare_run, train
from .version import __version__

__all__ = [
    "CELLS", "Cell", "CheckpointError", "Classifier", "ClassifierHeadConfig", "ClassifierTask",
    "ConfigError", "Corpus", "DataConfig", "DataError", "Encoding", "Endpoint", "ForecastHeadConfig",
    "ForecastTask", "Forecaster", "SeriesDataConfig", "ElmanRNN", "EncoderConfig", "LMHeadConfig",
    "LMTask", "LabelledDataConfig", "LanguageModel", "LoadedRun", "ModelConfig", "Parser",
    "RNNClassifier", "RNNEncoder", "Pairs", "ParallelDataConfig", "RNNLanguageModel", "Run",
    "TagTask", "Tagger", "TaggedDataConfig", "TaggerHeadConfig", "TranslateTask", "Translator", "TranslatorHeadConfig", "RunOptions", "RunSettings",
    "SamplingConfig", "SourceSettings", "SpeechDataConfig", "SpeechHeadConfig", "SpeechTask",
    "Transcribed", "Transcriber", "load_transcribed", "TASKS", "Task", "TextRNNError", "TrainConfig", "Trainer",
    "TrainingDiverged", "__version__", "add_flags", "build_model", "config_from_dict",
    "encode_stream", "exit_if_interrupted", "format_report", "load", "load_corpus", "load_pairs",
    "load_pretrained", "load_table", "load_tokenizer", "open_corpus", "parse_settings",
    "prepare_run", "presets", "push", "run_guarded", "save_pretrained", "setting", "settings_from",
    "split_tail", "stages", "train", "train_tokenizer",
]
