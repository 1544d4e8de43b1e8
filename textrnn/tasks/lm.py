"""Next-token prediction: a text stream in B contiguous columns, read in truncated-BPTT
windows with the hidden state carried from one window to the next. The trained model, and
how it is used, is language_model.py's."""
import logging
from dataclasses import dataclass, replace

from ..config import ModelConfig
from ..data import batchify, encode_cached, num_windows, open_corpus, window
from ..data.bundled import SAMPLE_DATA
from ..errors import ConfigError, DataError, setting_name
from ..metrics import lm_metrics
from ..models import RNNLanguageModel
from ..nested import detach
from ..settings import setting
from ..tokenization import KINDS, extend_tokenizer, train_tokenizer
from ..transfer import continue_config, resize_vocab, with_config
from ..world import current
from .base import Endpoint, SourceSettings, Task
from .lm_stream import StreamedText, StreamedWindows, check_streaming, prepare_streamed, read_streamed
from .language_model import (GenerateRequest, LanguageModel, LMEvaluation, SampleSettings,
                             generate_endpoint, lm_nll, sample_command, stream_metrics)

log = logging.getLogger("textrnn")


@dataclass
class DataConfig(SourceSettings):
    """Where the text comes from and how it is tokenized."""
    data: str | list = setting("", "training text: a .txt file, a folder of .txt files, a "
                               "csv/tsv/jsonl/parquet file, or a Hugging Face Hub dataset id; "
                               "several are read one after another", nargs="+", metavar="SOURCE")
    val_data: str | None = setting(None, "validation text (default: the tail of --data)")
    test_data: str | None = setting(None, "test text, scored by the kept model after training")
    val_split: str = setting("validation", "dataset split of --val-data for Hub ids")
    test_split: str = setting("test", "dataset split of --test-data for Hub ids")
    val_fraction: float = setting(0.1, "fraction of --data held out for validation, from its end",
                                  low=0, high=1, low_open=True, high_open=True)
    tokenizer: str | None = setting(None, "char (default) for a new model; --init-from reuses "
                                    "its own", choices=KINDS)
    vocab_size: int = setting(10000, "word/bpe vocabulary size", low=3, high=10_000_000)
    # Both stored in the tokenizer, so whatever reuses it (sampling, a classifier) reads
    # text the same way.
    lowercase: bool = setting(False, "a new tokenizer lowercases all text")
    strip_html: bool = setting(False, "a new tokenizer reads <br /> markup (as in IMDb reviews) "
                               "as a space")
    extend_vocab: bool = setting(False, "with --init-from: add the new text's unseen tokens "
                                 "(mean-initialised)")
    streaming: bool = setting(False, "read --data as a stream, tokenized as it trains (a corpus "
                              "larger than the disk; each torchrun process reads its own "
                              "shards); needs --val-data and --max-steps or --time-budget")
    tokenizer_sample_mb: float = setting(16.0, "with --streaming, a new tokenizer learns from "
                                         "this many megabytes at the top of the stream",
                                         low=0, low_open=True, high=1e6)


@dataclass
class LMHeadConfig:
    """y_t = V h_t + c over the vocabulary, or an adaptive softmax."""
    tie_weights: bool = setting(False, "share input and output embeddings (Press & Wolf 2017)")
    adaptive_cutoffs: list = setting([], "adaptive softmax: token ids where tail clusters start, "
                                     "e.g. 2000 8000 for a word vocabulary (faster training; "
                                     "none: full softmax)", nargs="*", metavar="ID", type=int,
                                     low=1, high=10_000_000)

    reverse: bool = setting(False, "read the text backwards, last token first: the backward "
                            "half of a tagger's contextual string embeddings (such a model "
                            "scores text but cannot continue a prompt)", resume="fixed")

    def tail_cutoffs(self, vocab_size: int) -> list[int]:
        """The cutoffs inside a vocabulary: a small one, known only once its tokenizer is
        trained, may leave fewer clusters, or none."""
        return [c for c in self.adaptive_cutoffs if c < vocab_size]


@dataclass
class Text:
    """Training, validation and test text, read piece by piece (a large file streams from disk)."""
    train: object
    val: object
    test: object = None


def in_reading_order(ids, cfg: ModelConfig):
    """A text's token ids as the model reads them: last first for a model trained with
    --reverse (a copy: a memory-mapped cache stays as it is on disk)."""
    return ids[::-1].copy() if cfg.head.reverse else ids


def require_language_model(model) -> None:
    """What --init-from starts a text model from: a language model's run."""
    if model.cfg.task != LMTask.name:
        raise ConfigError(f"{setting_name('init_from')} holds a {model.cfg.task}, not a language "
                          "model; pass a run folder written by train-lm or recipes/generate.py")


# The bundled play is ~65k characters: a mid-sized model, strong dropout, and a short
# time budget; the best validation checkpoint is kept, so overfitting late costs nothing.
# --size auto trains a smaller LSTM where this machine would take fewer than 600 steps of
# the 2x384 in the budget (a slow or busy one): on the play, more steps of a smaller model
# beat a few of a larger one. 150 s: on one busy core of a 2-core AMD EPYC, 100 s gave the
# 2x128 401 steps (2.25 bpc, 70% of sampled words real), 150 s 737 (2.06, 86%).
SAMPLE = dict(hidden_size=384, embed_dim=64, num_layers=2, dropout=0.3, batch_size=32,
              bptt=128, lr=3e-3, warmup_steps=50, time_budget=150.0, eval_every=100,
              save_every=200, precision="auto", size="auto", size_steps=600,
              data=str(SAMPLE_DATA / "tiny_play.txt"))

# --size auto's candidates, smallest first (two layers each; the configured size is the
# largest candidate), each with the dropout and peak rate that suit it: a small model
# trained for a few hundred steps underfits, so it wants little dropout and a high rate.
# Measured for the 2x128 on the play (validation bpc at 341 / 1,386 steps): dropout 0.3
# and 3e-3, 2.95 / 2.20; dropout 0.1 and 1e-2, 2.33 / 2.05; dropout 0 and 1e-2, 2.27 at
# 341. The 2x384's are the preset's; the two between are interpolated, not measured.
SIZES = {"small": dict(hidden_size=128, embed_dim=32, dropout=0.1, lr=1e-2),
         "medium": dict(hidden_size=192, embed_dim=48, dropout=0.15, lr=7e-3),
         "large": dict(hidden_size=256, embed_dim=64, dropout=0.2, lr=5e-3),
         "larger": dict(hidden_size=384, embed_dim=64, dropout=0.3, lr=3e-3),
         "largest": dict(hidden_size=768, embed_dim=128, dropout=0.3, lr=3e-3)}

# A corpus of a megabyte or more (e.g. Tiny Shakespeare): a 2x768 LSTM sized so that a
# 15-minute budget on 2 modern CPU cores covers ~14 passes over 1 MB, bf16 autocast where
# the hardware has it, and a cosine schedule driven by wall time so the learning rate has
# decayed exactly when the budget ends. --size auto keeps the 2x768 only where it takes 600
# steps and trains 12 tokens per parameter in the budget (the measured rule,
# training/sizing.py: about 90M tokens, a GPU's pace) and a narrower model where it would
# not: on a 2-core AMD EPYC, where the 2x768 takes 1.36 s a step, the 2x256 (1.431
# nats/char in 900 s) rather than the 2x768 (1.481) or the 2x384 (1.442).
CORPUS = dict(hidden_size=768, embed_dim=128, num_layers=2, dropout=0.3, batch_size=64,
              bptt=128, lr=3e-3, warmup_steps=200, time_budget=900.0, eval_every=250,
              save_every=250, precision="auto", size="auto", size_steps=600, tokens_per_parameter=12.0)


class LMTask(Task):
    """Train a language model on text: next-token prediction with truncated BPTT."""
    name, command, Head, Data, Loaded = "lm", "train-lm", LMHeadConfig, DataConfig, LanguageModel
    pipeline_tag = "text-generation"
    encoder_flags_skip = ("bidirectional",)
    metric, mode, sampled_eval, loss_unit = "loss", "min", True, "nats per token"
    sizes = SIZES
    # Validation as several columns is much faster than one stream; the final report reads
    # it as one stream.
    eval_batch_size = 16
    verb, verb_help, Use, Evaluation = ("sample", "generate text from a language-model run folder",
                                        SampleSettings, LMEvaluation)
    use = staticmethod(sample_command)
    endpoint = Endpoint("generate", "continue a prompt with a language model", GenerateRequest,
                        generate_endpoint, panel="lm_panel.js", stepped=True)

    @staticmethod
    def check_model(cfg: ModelConfig):
        enc, head = cfg.encoder, cfg.head
        if enc.bidirectional:
            raise ConfigError(f"a language model cannot be bidirectional; drop {setting_name('bidirectional')}")
        if head.tie_weights and enc.embed_dim != enc.hidden_size:
            # The head reads the last hidden state, so tying needs equal widths.
            raise ConfigError(f"{setting_name('tie_weights')} needs {setting_name('embed_dim')} "
                              f"equal to {setting_name('hidden_size')} (got {enc.embed_dim} and "
                              f"{enc.hidden_size})")
        cuts = head.adaptive_cutoffs
        if any(a >= b for a, b in zip(cuts, cuts[1:])):
            raise ConfigError(f"{setting_name('adaptive_cutoffs')} must increase, got {cuts}")

    @staticmethod
    def build_model(cfg: ModelConfig):
        return RNNLanguageModel(cfg)

    @staticmethod
    def skips_parameters(model) -> bool:
        # A tail cluster of an adaptive softmax is read only when a target falls in it.
        return bool(model.cfg.head.tail_cutoffs(model.cfg.vocab_size))

    @staticmethod
    def check_settings(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg) -> None:
        check_streaming(data_cfg, model_cfg, train_cfg)

    @staticmethod
    def read_data(data_cfg: DataConfig, seed: int, saved=None) -> Text:
        if data_cfg.streaming:
            return read_streamed(data_cfg)
        src = (data_cfg.text_column, data_cfg.split, data_cfg.data_config)
        train = open_corpus(data_cfg.data, *src)
        held = lambda source, split: open_corpus(source, data_cfg.text_column, split,  # noqa: E731
                                                 data_cfg.data_config)
        test = held(data_cfg.test_data, data_cfg.test_split) if data_cfg.test_data else None
        if data_cfg.val_data:
            return Text(train, held(data_cfg.val_data, data_cfg.val_split), test)
        return Text(*train.split_tail(data_cfg.val_fraction), test)

    @staticmethod
    def new_encoding(text: Text, data_cfg: DataConfig):
        kind = data_cfg.tokenizer or "char"
        return kind, train_tokenizer(kind, text.train.pieces(), data_cfg.vocab_size,
                                     lowercase=data_cfg.lowercase, strip_html=data_cfg.strip_html)

    @staticmethod
    def complete(cfg: ModelConfig, text: Text) -> ModelConfig:
        return replace(cfg, head=replace(cfg.head, adaptive_cutoffs=cfg.head.tail_cutoffs(cfg.vocab_size)))

    @staticmethod
    def from_language_model(lm, tokenizer, text: Text, data_cfg: DataConfig, model_cfg: ModelConfig):
        """Continue an LM on new text: its architecture and vocabulary (grown by the new
        text's tokens with --extend-vocab, else those read as <unk>); this run's dropouts."""
        require_language_model(lm)
        if model_cfg.head.reverse and not lm.cfg.head.reverse:
            raise ConfigError(f"{setting_name('init_from')} reads text forwards, so it cannot continue "
                              f"with {setting_name('reverse')}; train a new model with it (a model "
                              "trained with --reverse continues reversed without the flag)")
        if data_cfg.extend_vocab:
            tokenizer = extend_tokenizer(tokenizer, lm.cfg.tokenizer, text.train.pieces(), data_cfg.vocab_size)
            lm = resize_vocab(lm, tokenizer.get_vocab_size())
        cfg = continue_config(lm.cfg, model_cfg)
        return with_config(lm, cfg), tokenizer

    @staticmethod
    def recipe_preset(given: dict) -> dict:
        """recipes/generate.py: the bundled play, or a corpus of your own. A length the user
        gave (--epochs, --max-steps) replaces the preset's time budget, and so its --size
        auto, which fits the model to that budget."""
        preset = dict(SAMPLE if "data" not in given else CORPUS)
        if ("epochs" in given or "max_steps" in given) and "time_budget" not in given:
            del preset["time_budget"]
            preset.pop("size", None)
        return preset

    @classmethod
    def prepare(cls, text: Text, tokenizer, data_cfg: DataConfig, train_cfg, run_dir, model_cfg):
        ids = lambda part, name: in_reading_order(encode_cached(tokenizer, part, run_dir, name),  # noqa: E731
                                                  model_cfg)
        if isinstance(text, StreamedText):
            log.info("text: a stream for training, %d characters for validation%s",
                     len(text.val), f", {len(text.test)} for test" if text.test else "")
            return prepare_streamed(StreamedLM, text, tokenizer, train_cfg, ids)
        train_ids, val_ids = ids(text.train, "train"), ids(text.val, "val")
        test = (ids(text.test, "test"), len(text.test)) if text.test else None
        need = train_cfg.batch_size * (train_cfg.bptt + 1)
        if len(train_ids) < need:
            raise DataError(f"the training text has {len(train_ids)} tokens, fewer than one batch "
                            f"of windows needs ({train_cfg.batch_size} x {train_cfg.bptt + 1} = "
                            f"{need}); add text or lower {setting_name('batch_size')} / "
                            f"{setting_name('bptt')}")
        if len(val_ids) < 2:
            raise DataError(f"the validation text has fewer than 2 tokens; raise "
                            f"{setting_name('val_fraction')} or pass a longer {setting_name('val_data')}")
        log.info("text: %d characters (%d tokens) for training, %d for validation%s",
                 len(text.train), len(train_ids), len(text.val),
                 f", {len(text.test)} for test" if text.test else "")
        return cls(train_ids, val_ids, len(text.val), train_cfg.batch_size, train_cfg.bptt,
                   train_cfg.eval_batch_size or cls.eval_batch_size, test=test)

    def __init__(self, train_ids, val_ids, val_chars: int, batch_size: int, bptt: int,
                 eval_batch_size: int = 16, eval_tokens: int = 1 << 18, test=None):
        self.stream = batchify(train_ids, batch_size)  # (B, N)
        self.bptt = bptt
        self.val_ids, self.val_chars = val_ids, val_chars
        self.test = test  # (ids, characters) of the test text, or None
        # Periodic evaluations read at most this many validation tokens (about 20 s for a
        # 30k-word model on a CPU): a 10% split of a large corpus would otherwise cost
        # minutes each time. Only the final evaluation reads all of it.
        self.eval_tokens = eval_tokens
        self.eval_columns = eval_batch_size

    def num_batches(self, epoch: int) -> int:
        return num_windows(self.stream, self.bptt)

    def batch(self, epoch: int, i: int):
        return window(self.stream, i, self.bptt)  # inputs, targets: (B, T) each

    @staticmethod
    def tokens(batch) -> int:
        return batch[0].numel()

    def loss(self, model, batch, carry, device):
        x, y = (t.to(device, non_blocking=True) for t in batch)
        loss, state = model(x, carry, targets=y)
        return loss, detach(state)

    def evaluate(self, model, device, precision, final=False):
        if final:
            return stream_metrics(model, self.val_ids, self.val_chars, device, precision, current())
        ids = self.val_ids[: self.eval_tokens]
        bs = max(1, min(self.eval_columns, len(ids) // (self.bptt + 1)))
        nll, n = lm_nll(model, ids, device, precision, batch_size=bs, bptt=self.bptt, world=current())
        # Columns drop the tail that does not fill a row: scale chars to the tokens read.
        chars = self.val_chars * n / max(len(self.val_ids) - 1, 1)
        return lm_metrics(nll, n, round(chars))

    def report(self, model, metrics, folder, device, precision) -> dict:
        """The kept model on the test text, read once as one stream, if one was given."""
        if self.test is None:
            return {}
        ids, chars = self.test
        return {"test": stream_metrics(model, ids, chars, device, precision, current())}


class StreamedLM(StreamedWindows, LMTask):
    """A language model trained on a stream (--streaming): LMTask's model, loss and
    evaluation, its windows read in order from this process's share (lm_stream.py)."""
