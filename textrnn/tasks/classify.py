"""Sequence classification (sentiment and other labels): texts in length-bucketed, padded
batches; the encoder's outputs pooled over real positions, then a linear layer; after
training, one temperature fitted on validation. The trained run in use: classifier.py."""
import logging
from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from ..config import ModelConfig
from ..data import EpochBatches, collate, encode_texts
from ..data.bundled import SAMPLE_DATA
from ..errors import ConfigError
from ..calibration import calibration_metrics, fit_temperature, reliability, with_temperature
from ..models import RNNClassifier
from ..models.heads import POOLINGS
from ..models.padded import real_positions
from ..settings import OldFlag, setting
from ..tokenization import KINDS, UNK_ID, train_tokenizer, truncate, with_leading_space
from ..transfer import classifier_from_lm
from ..world import current
from .base import Endpoint, SourceSettings, Task
from .classifier import (Classifier, ClassifierEvaluation, ClassifyRequest, PredictSettings,
                         class_log_proba, classify_endpoint, evaluate_classifier, predict_command,
                         scores)
from .labelled_splits import Splits, class_weights, load_splits
from .lm import require_language_model

log = logging.getLogger("textrnn")

# Fewer training examples than SMALL_DATA (SST-2's 6,920 sentences, say): the BiLSTM of
# the command's defaults overfits them within four or five epochs while its validation
# accuracy, a point or two noisy per epoch, still climbs for several more, so a fixed epoch
# count and a short patience stop it before its best. A narrower model, whole words dropped
# from the embedding (Gal & Ghahramani 2016), words seen once read as <unk> (an embedding
# learnt from one sentence is noise, and the model learns to read the words it never saw),
# and a run ended by patience rather than an epoch count. The command's 300-wide embedding
# and a 3e-3 learning rate: on SST-2 subsets of 2,000 and 8,000 examples and a five-class set
# of 4,000 sentences (bench/small_data.py) they gave 0.5-1.8 points more dev accuracy than a
# 128-wide embedding at 1e-3 (an epoch here is seconds, so the faster rate buys more epochs
# before patience, and Kim's CNN-rand, the baseline, also trains 300-wide random vectors).
SMALL_DATA = 20_000
SMALL_DATA_SETTINGS = dict(hidden_size=128, lr=3e-3, embed_dropout=0.2, min_frequency=2,
                           epochs=50, patience=10)


def fit_classifier_to_size(examples: int) -> dict:
    """The classifier settings for this many training examples (SMALL_DATA_SETTINGS below
    SMALL_DATA; none above)."""
    return dict(SMALL_DATA_SETTINGS) if examples < SMALL_DATA else {}


@dataclass
class LabelledDataConfig(SourceSettings):
    """Where labelled text comes from and how it is tokenized."""
    data: str = setting("", "training examples: csv/tsv/jsonl/parquet, a folder with one "
                        "sub-folder of .txt files per class, or a Hugging Face Hub dataset id")
    val_data: str | None = setting(None, "validation examples (default: --val-fraction of --data)")
    test_data: str | None = setting(None, "test examples, reported after training")
    val_split: str = setting("validation", "dataset split of --val-data for Hub ids")
    test_split: str = setting("test", "dataset split of --test-data for Hub ids")
    val_fraction: float = setting(0.1, "fraction of --data held out for validation (stratified)",
                                  low=0, high=1, low_open=True, high_open=True)
    test_fraction: float = setting(0.0, "without --test-data, the fraction of --data held out for "
                                   "a test report (stratified; 0: none)", low=0, high=1, high_open=True)
    label_column: str | None = setting(None, "column holding the label (default: label, labels, "
                                       "sentiment, class or target)")
    tokenizer: str | None = setting(None, "word (default) for a new model; --init-from reuses "
                                    "its own", choices=KINDS)
    vocab_size: int = setting(20000, "word/bpe vocabulary size", low=3, high=10_000_000)
    min_frequency: int = setting(1, "a word seen fewer times than this in training reads as "
                                 "<unk>", low=1, high=10_000_000)
    unk_dropout: float = setting(0.0, "in training, each word reads as <unk> with this "
                                 "probability, so a word the model never saw reads as a known "
                                 "unknown, not as noise (word dropout)", low=0, high=1, high_open=True)
    lowercase: bool = setting(True, "lowercase all text")
    strip_html: bool = setting(True, "read <br /> tags (as in IMDb reviews) as a space")
    max_length: int = setting(400, "tokens kept per text", low=1, high=10_000_000)
    keep_end: bool = setting(True, "a longer text keeps its last --max-length tokens, where a "
                             "review usually gives its verdict (off: its first ones)")
    class_weights: bool = setting(False, "weight the loss by inverse class frequency (imbalanced "
                                  "data)")
    fit_to_size: bool = setting(True, f"fewer than {SMALL_DATA:,} training examples get a narrower "
                                "model, word dropout and a run ended by patience, where no flag "
                                "says otherwise (off: the defaults whatever the data's size)")

    OLD_FLAGS = {"--eval-data": OldFlag(("val_data",), "--val-data"),
                 "--eval-split": OldFlag(("val_split", "test_split"), "--val-split and --test-split"),
                 "--keep-html": OldFlag(("strip_html",), "--no-strip-html", False),
                 "--keep-start": OldFlag(("keep_end",), "--no-keep-end", False)}


@dataclass
class ClassifierHeadConfig:
    pooling: str = setting("last", "how the encoder's outputs become one vector", choices=POOLINGS)
    head_hidden: int = setting(0, "width of a BatchNorm + ReLU layer before the output "
                               "(ULMFiT: 50; 0: none)", low=0, high=1 << 16)
    calibrate: bool = setting(True, "after training, fit one temperature on the validation data "
                              "so that the probabilities mean what they say (Guo et al. 2017), "
                              "and keep it with the model (off: raw probabilities)")
    labels: list = setting([], "class names, index = class id", cli=False)
    temperature: float = setting(1.0, "the logits are divided by this before the softmax: the "
                                 "temperature fitted on validation (1: raw)", low=0, low_open=True,
                                 cli=False)
    reverse: bool = setting(False, "reads each text backwards, last token first (fine-tuned from a "
                            "language model trained with train-lm --reverse)", cli=False)

    # A run folder written before calibration existed keeps its raw probabilities, resumed too.
    BEFORE_IT_EXISTED: ClassVar[dict] = {"calibrate": False}


def unknown_words(ids, lengths, unk: int, p: float):
    """Word dropout (Iyyer et al. 2015): each real token becomes <unk> with probability p.
    Without it <unk> is never seen in training, so at test time every new word feeds the
    model an untrained vector; with it, an unseen word reads as "some word" and the words
    around it decide."""
    real = real_positions(lengths, ids.shape[1])  # (B, T)
    drop = (torch.rand(ids.shape, device=ids.device) < p) & real
    return torch.where(drop, torch.full_like(ids, unk), ids)


# `textrnn train-classifier`: a word-level BiLSTM with max pooling, a strong sentence-
# classification baseline (Conneau et al. 2017 found max pooling over BiLSTM states the best
# of their encoders). Adam at a constant 1e-3 and an evaluation per epoch, the best epoch
# kept (these data overfit within a few epochs), stopping after 3 epochs without gain;
# clipping at a norm of 5 only guards against explosions (typical norms here are 0.5-3).
COMMAND_DEFAULTS = dict(
    embed_dim=300, hidden_size=256, num_layers=1, bidirectional=True, pooling="max", dropout=0.5,
    lr=1e-3, batch_size=64, epochs=8, patience=3, eval_every=0, save_every=0, warmup_steps=0,
    weight_decay=0.0, schedule="constant", clip=5.0)

# --size auto's candidates, smallest first (the configured model is the largest): narrower
# word BiLSTMs for a machine that would take too few steps in the budget at the command's
# 300/256.
SIZES = {"small": dict(embed_dim=64, hidden_size=64), "medium": dict(embed_dim=128, hidden_size=128)}

# 20,000 generated reviews (data/make_sentiment_reviews.py): a small BiLSTM, an evaluation
# per epoch, stopping after 3 without gain; the best validation epoch is kept. Its sizes
# are chosen for these data, so the small-data settings stay off. A tenth of the training
# words read as <unk> (--unk-dropout), so everyday words the generator never used read as
# unknown words, not as untrained noise.
SAMPLE = dict(embed_dim=64, hidden_size=64, num_layers=1, bidirectional=True, pooling="max",
              dropout=0.3, unk_dropout=0.1, lr=3e-3, batch_size=32, epochs=14, patience=3, eval_every=0,
              save_every=0, warmup_steps=20, val_fraction=0.2, fit_to_size=False,
              data=str(SAMPLE_DATA / "sentiment_reviews.csv"))

# A real corpus (SST-2, IMDb): the command's BiLSTM, stopping after six epochs without gain.
CORPUS = dict(COMMAND_DEFAULTS, patience=6, precision="auto")

# --init-from LM_RUN: ULMFiT's fine-tuning (Howard & Ruder 2018): the LM's unidirectional
# encoder, concat pooling, discriminative learning rates (/2.6 per layer group down), a
# slanted triangular schedule and gradual unfreezing. Each can be switched off by its flag;
# --head-hidden 50 adds ULMFiT's BatchNorm + ReLU head (with --lr 3e-3: see finetune.py).
ULMFIT = dict(bidirectional=False, pooling="concat", discriminative_lr=2.6, gradual_unfreezing=True,
              schedule="stlr", lr=4e-3, dropout=0.3, fit_to_size=False)


class ClassifierTask(Task):
    """Train a text classifier (sentiment and other labels) on labelled examples."""
    name, command, Head, Data, Loaded = ("classifier", "train-classifier", ClassifierHeadConfig,
                                         LabelledDataConfig, Classifier)
    pipeline_tag = "text-classification"
    command_defaults = COMMAND_DEFAULTS
    sizes = SIZES
    metric, mode, sampled_eval, loss_unit = "accuracy", "max", False, "nats per example"
    plots = ("confusion_val.png", "confusion_test.png", "reliability_val.png", "reliability_test.png")
    eval_batch_size = 128
    verb, verb_help, Use, Evaluation = ("predict", "label texts with a classifier run folder",
                                        PredictSettings, ClassifierEvaluation)
    use = staticmethod(predict_command)
    endpoint = Endpoint("classify", "label texts with a classifier, optionally with each token's "
                        "contribution (occlusion)", ClassifyRequest, classify_endpoint,
                        panel="classify_panel.js")

    @staticmethod
    def check_model(cfg: ModelConfig):
        labels = cfg.head.labels
        if labels and (len(labels) < 2 or not all(isinstance(n, str) for n in labels)):
            raise ConfigError(f"a classifier needs at least two label names, got {labels!r}")

    @staticmethod
    def build_model(cfg: ModelConfig):
        if len(cfg.head.labels) < 2:
            raise ConfigError("a classifier needs at least two labels")
        return RNNClassifier(cfg)

    @staticmethod
    def read_data(data_cfg: LabelledDataConfig, seed: int, saved=None) -> Splits:
        return load_splits(data_cfg, seed, saved.head.labels if saved else None)

    @staticmethod
    def new_encoding(data: Splits, data_cfg: LabelledDataConfig):
        kind = data_cfg.tokenizer or "word"
        return kind, train_tokenizer(kind, data.train.texts, data_cfg.vocab_size,
                                     data_cfg.min_frequency, lowercase=data_cfg.lowercase,
                                     strip_html=data_cfg.strip_html,
                                     max_length=data_cfg.max_length, leading_space=True,
                                     keep_end=data_cfg.keep_end)

    @staticmethod
    def complete(cfg: ModelConfig, data: Splits) -> ModelConfig:
        return replace(cfg, head=replace(cfg.head, labels=list(data.names)))

    @staticmethod
    def fit_to_size(data: Splits, data_cfg: LabelledDataConfig) -> dict:
        """Settings for this many training examples, in place of defaults (SMALL_DATA)."""
        return fit_classifier_to_size(len(data.train.texts)) if data_cfg.fit_to_size else {}

    @staticmethod
    def from_language_model(lm, tokenizer, data: Splits, data_cfg, model_cfg: ModelConfig):
        """ULMFiT: the LM's tokenizer, embedding and recurrent layers; a fresh head."""
        require_language_model(lm)
        tokenizer = truncate(with_leading_space(tokenizer), data_cfg.max_length, data_cfg.keep_end)
        return classifier_from_lm(lm, model_cfg, list(data.names)), tokenizer

    @staticmethod
    def recipe_preset(given: dict) -> dict:
        """recipes/sentiment.py: the bundled reviews, or a real corpus; ULMFiT with --init-from."""
        preset = dict(SAMPLE if "data" not in given else CORPUS)
        return dict(preset, **ULMFIT) if "init_from" in given else preset

    @classmethod
    def prepare(cls, data: Splits, tokenizer, data_cfg, train_cfg, run_dir, model_cfg):
        log.info("examples: %d train, %d validation%s; classes: %s", len(data.y_train),
                 len(data.y_val), f", {len(data.y_test)} test" if data.test else "",
                 ", ".join(data.names))
        weights = class_weights(data.y_train, len(data.names)) if data_cfg.class_weights else None
        test = (encode_texts(tokenizer, data.test.texts), data.y_test) if data.test else None
        return cls(encode_texts(tokenizer, data.train.texts), data.y_train,
                   encode_texts(tokenizer, data.val.texts), data.y_val, data.names,
                   train_cfg.batch_size, train_cfg.seed, weights, test,
                   train_cfg.eval_batch_size or cls.eval_batch_size, data_cfg.unk_dropout)

    def __init__(self, train_seqs, train_labels, val_seqs, val_labels, names, batch_size: int,
                 seed: int, class_weights=None, test=None, eval_batch_size: int = 128,
                 unk_dropout: float = 0.0):
        self.seqs, self.labels = train_seqs, torch.tensor(train_labels)
        self.val_seqs, self.val_labels = val_seqs, list(val_labels)
        self.names = names
        self.batches = EpochBatches([len(s) for s in train_seqs], batch_size, seed)
        self.class_weights, self.test = class_weights, test
        self.eval_size = eval_batch_size
        self.unk_dropout = unk_dropout  # the share of training words read as <unk> (UNK_ID)

    def num_batches(self, epoch: int) -> int:
        return len(self.batches(epoch))

    def batch(self, epoch: int, i: int):
        idx = self.batches(epoch)[i]
        ids, lengths = collate([self.seqs[j] for j in idx])
        return ids, lengths, self.labels[idx]  # (B, T), (B,), (B,)

    @staticmethod
    def tokens(batch) -> int:
        return int(batch[1].sum())

    def loss(self, model, batch, carry, device):
        ids, lengths, y = (t.to(device, non_blocking=True) for t in batch)
        if self.unk_dropout:
            ids = unknown_words(ids, lengths, UNK_ID, self.unk_dropout)
        weight = None if self.class_weights is None else self.class_weights.to(device)
        return model(ids, lengths, targets=y, class_weights=weight), None

    def weight(self, batch) -> float:
        """A batch's weight in the global mean loss (see training.distributed.shard): its
        examples, or the sum of their class weights when the loss is weighted."""
        y = batch[2]
        return len(y) if self.class_weights is None else float(self.class_weights[y].sum())

    def evaluate(self, model, device, precision, final=False):
        return evaluate_classifier(model, self.val_seqs, self.val_labels, self.names, device,
                                   precision, world=current(), batch_size=self.eval_size)

    def report(self, model, metrics, folder, device, precision) -> dict:
        """The temperature fitted on validation (if the head calibrates) and saved with the
        model; confusion matrices and reliability diagrams; the kept model's scores on the
        test data if given, at that temperature."""
        folder.plot_confusion(metrics, "val", "validation")
        raw = class_log_proba(model, self.val_seqs, device, precision, self.eval_size, world=current())
        t = self.calibrate(model, raw, folder)
        out = {"calibration": {"temperature": t, "fitted": model.cfg.head.calibrate,
                               "val": self.calibration_of(raw, self.val_labels, t, folder, "val")}}
        if self.test is None:
            return out
        raw = class_log_proba(model, self.test[0], device, precision, self.eval_size, world=current())
        out["calibration"]["test"] = self.calibration_of(raw, self.test[1], t, folder, "test")
        test = dict(scores(with_temperature(raw, t), self.test[1], self.names), temperature=t,
                    calibrated=t != 1.0)
        folder.plot_confusion(test, "test", "test")
        return {**out, "test": test}

    def calibrate(self, model, raw, folder) -> float:
        """Temperature scaling (Guo et al. 2017): one T fitted on the validation data's
        log-probabilities `raw` (N, C), kept in the model's config.json (1.0 when the head
        does not calibrate)."""
        if not model.cfg.head.calibrate:
            return 1.0
        t = round(fit_temperature(raw, torch.tensor(self.val_labels)), 4)
        model.cfg = replace(model.cfg, head=replace(model.cfg.head, temperature=t))
        folder.save_kept(model)
        log.info("temperature %.3g fitted on validation (--no-calibrate: raw probabilities)", t)
        return t

    def calibration_of(self, raw, labels, t: float, folder, split: str) -> dict:
        """ECE, Brier and NLL before and after temperature `t`, and their reliability diagram."""
        y = torch.tensor(labels)
        before, after = (with_temperature(raw, x) for x in (1.0, t))
        out = {"before": calibration_metrics(before, y), "after": calibration_metrics(after, y)}
        curves = {f"raw (ECE {out['before']['ece']:.3f})": reliability(before, y)}
        if t != 1.0:
            curves[f"temperature {t:.3g} (ECE {out['after']['ece']:.3f})"] = reliability(after, y)
        folder.plot_reliability(f"reliability_{split}.png", curves,
                                f"reliability, {'validation' if split == 'val' else split}")
        return out


__all__ = ["ClassifierTask", "Classifier", "LabelledDataConfig", "ClassifierHeadConfig"]
