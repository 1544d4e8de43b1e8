"""Sequence classification (sentiment and other labels): texts in length-bucketed, padded
batches; the encoder's outputs pooled over real positions, then a linear layer."""
import json
import logging
from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from ..config import ModelConfig
from ..data import (EpochBatches, Labelled, bucketed_batches, collate, encode_texts, label_ids,
                    load_labelled)
from ..data.bundled import SAMPLE_DATA
from ..device import autocast
from ..errors import ConfigError
from ..calibration import calibration_metrics, fit_temperature, reliability, with_temperature
from ..metrics import classification_metrics, format_report
from ..models import RNNClassifier, evaluating
from ..models.heads import POOLINGS
from ..models.padded import real_positions
from ..outputs import check_output, write_output
from ..settings import OldFlag, setting
from ..tokenization import KINDS, UNK_ID, train_tokenizer, truncate, with_leading_space
from ..transfer import classifier_from_lm
from ..world import World, current
from .base import Endpoint, LoadedRun, SourceSettings, Task, check_texts, one_source
from .explain import contributions
from .labelled_splits import Splits, class_weights, load_splits
from .lm import require_language_model
from .text_input import TextInput, texts_of

log = logging.getLogger("textrnn")

# Fewer training examples than SMALL_DATA (SST-2's 6,920 sentences, say): the BiLSTM of
# the command's defaults overfits them within four or five epochs while its validation
# accuracy, a point or two noisy per epoch, still climbs for several more, so a fixed epoch
# count and a short patience stop it before its best. A narrower model, whole words dropped
# from the embedding (Gal & Ghahramani 2016), words seen once read as <unk> (an embedding
# learnt from one sentence is noise, and the model learns to read the words it never saw),
# and a run ended by patience rather than an epoch count.
SMALL_DATA = 20_000
SMALL_DATA_SETTINGS = dict(embed_dim=128, hidden_size=128, embed_dropout=0.2, min_frequency=2,
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


@dataclass
class Probabilities:
    """How a classifier's probabilities are made: its own, calibrated, or averaged with others."""
    ensemble: str | None = setting(None, "average the probabilities with this classifier run's (the "
                                   "same labels and tokenizer: a backward model beside a forward "
                                   "one, say)", metavar="RUN")
    temperature: bool = setting(True, "use the temperature fitted on validation at training (off: "
                                "raw probabilities)")


@dataclass
class ClassifierEvaluation(Probabilities):
    """`textrnn evaluate` on a classifier: scikit-learn's report, calibration (ECE, Brier, NLL)
    and a reliability diagram."""
    text_column: str | None = setting(None, "column holding the text in tables and Hub datasets")
    label_column: str | None = setting(None, "column holding the label")
    split: str = setting("test", "dataset split of --data for Hub ids")
    reliability_plot: str | None = setting("reliability.png", "where to save the reliability "
                                           "diagram (PNG); an empty value: none")


@dataclass
class PredictSettings(Probabilities, TextInput):
    """`textrnn predict`: each text's label and its probability."""


@dataclass
class ClassifyRequest:
    """POST /v1/classify's body."""
    texts: list[str] = setting([], "texts to label", required=True)
    explain: bool = setting(False, "also each token's contribution to the label (occlusion)")


@torch.no_grad()
def class_log_proba(model, seqs: list[list[int]], device, precision="fp32", batch_size=128,
                    progress=False, world=World()):
    """Class log-probabilities (N, C) of token-id sequences, in their original order (raw:
    no temperature).

    Sequences are batched by length (little padding); packing makes each result the
    same as running the sequence alone. Under torchrun each rank reads a share of the
    batches, and every rank gets every result.
    """
    from tqdm.auto import tqdm

    out = torch.empty(len(seqs), len(model.cfg.head.labels))
    batches = bucketed_batches([len(s) for s in seqs], batch_size, seed=0, shuffle=False)
    mine = []
    with evaluating(model):
        for idx in tqdm(batches[world.share(len(batches))], disable=not progress, unit="batch",
                        desc="predicting"):
            ids, lengths = collate([seqs[i] for i in idx])
            with autocast(device, precision):
                logits = model(ids.to(device), lengths.to(device))
            mine.append((idx, torch.log_softmax(logits.float(), -1).cpu()))
    for idx, part in (p for rank in world.gather(mine) for p in rank):
        out[idx] = part
    return out


def classify(model, seqs: list[list[int]], device, precision="fp32", batch_size=128, progress=False,
             world=World(), temperature: float = 1.0):
    """Class probabilities (N, C) of token-id sequences at `temperature` (see class_log_proba)."""
    return with_temperature(class_log_proba(model, seqs, device, precision, batch_size, progress,
                                            world), temperature)


def scores(proba, labels: list[int], names, bins: bool = False) -> dict:
    """scikit-learn's classification metrics of probabilities (N, C), with their loss (NLL)
    and calibration (ECE, Brier); with `bins`, the reliability diagram's bins too."""
    y = torch.tensor(labels)
    metrics = classification_metrics(labels, proba.argmax(-1).tolist(), proba.numpy(), names)
    calibration = calibration_metrics(proba, y)
    metrics.update(loss=calibration.pop("nll"), **calibration)
    return dict(metrics, reliability=reliability(proba, y)) if bins else metrics


def evaluate_classifier(model, seqs, labels, names, device, precision="fp32", progress=False,
                        world=World(), batch_size=128) -> dict:
    """Validation metrics of raw probabilities, as training compares its evaluations."""
    return scores(classify(model, seqs, device, precision, batch_size, progress, world), labels, names)


def describe_scores(m: dict) -> str:
    """The report, then how honest the probabilities are."""
    how = (f"at temperature {m['temperature']:.3g}, fitted on validation" if m.get("calibrated")
           else "raw")
    lines = [format_report(m), f"\nprobabilities {how}: ECE {m['ece']:.4f}  Brier {m['brier']:.4f}  "
             f"NLL {m['loss']:.4f}"] if "ece" in m else [format_report(m)]
    if m.get("reliability_plot"):
        lines.append(f"reliability diagram: {m['reliability_plot']}")
    return "\n".join(lines)


class Classifier(LoadedRun):
    """A trained text classifier with its tokenizer, label names and temperature."""
    noun = "classifier"
    describe = staticmethod(describe_scores)

    @property
    def labels(self) -> list[str]:
        return list(self.model.cfg.head.labels)

    @property
    def temperature(self) -> float:
        """The temperature fitted on validation at training (1.0: none was)."""
        return float(self.model.cfg.head.temperature)

    def _encode(self, texts) -> list[list[int]]:
        return encode_texts(self.tokenizer, check_texts(texts))

    def log_proba_of_ids(self, seqs: list[list[int]], progress: bool = False, batch_size: int = 128):
        """Raw class log-probabilities (N, C), a tensor, of token-id sequences."""
        return class_log_proba(self.model, seqs, self.device, batch_size=batch_size, progress=progress)

    def proba_of_ids(self, seqs: list[list[int]], progress: bool = False, batch_size: int = 128,
                     calibrated: bool = True):
        """Class probabilities (N, C), a tensor, of token-id sequences: at the fitted temperature
        unless not `calibrated`."""
        t = self.temperature if calibrated else 1.0
        return with_temperature(self.log_proba_of_ids(seqs, progress, batch_size), t)

    def predict_proba(self, texts, progress: bool = False, batch_size: int = 128, calibrated: bool = True):
        """Probabilities, a numpy array (n, classes) with columns in `labels` order; calibrated
        by the fitted temperature unless `calibrated=False`."""
        return self.proba_of_ids(self._encode(texts), progress, batch_size, calibrated).numpy()

    def predict(self, texts, progress: bool = False) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, progress).argmax(-1)]

    def evaluate(self, path_or_dataset, text_column=None, label_column=None, split="test",
                 progress: bool = False, batch_size: int = 128, calibrated: bool = True) -> dict:
        """scikit-learn metrics, ECE, Brier and NLL on a labelled file, folder or Hub dataset
        (or a `Labelled`), with the reliability diagram's bins."""
        data = path_or_dataset
        if not isinstance(data, Labelled):
            data = load_labelled(path_or_dataset, text_column, label_column, split)
        ids = label_ids(data, self.labels, str(path_or_dataset))
        proba = torch.as_tensor(self.predict_proba(data.texts, progress, batch_size, calibrated))
        return dict(scores(proba, ids, self.labels, bins=True), **self.calibration(calibrated))

    def calibration(self, calibrated: bool = True) -> dict:
        """What the probabilities are: the temperature used, and whether it was fitted."""
        return {"temperature": self.temperature if calibrated else 1.0,
                "calibrated": calibrated and self.temperature != 1.0}

    def ensemble(self, *others):
        """This classifier and `others` (run folders or loaded classifiers) as one, whose
        probabilities are the mean of theirs (ULMFiT's forward + backward ensemble)."""
        from .ensemble import Ensemble

        return Ensemble([self, *others])

    def evaluate_source(self, sources, settings: ClassifierEvaluation, progress=False,
                        batch_size=None) -> dict:
        if settings.reliability_plot:  # a bad path fails before the scoring, not after
            check_output(settings.reliability_plot, "reliability_plot")
        run = self.ensemble(settings.ensemble) if settings.ensemble else self
        metrics = run.evaluate(one_source(sources, "a classifier"), settings.text_column,
                               settings.label_column, settings.split, progress, batch_size or 128,
                               settings.temperature)
        if settings.reliability_plot:
            save_reliability(metrics, settings.reliability_plot)
        return metrics

    def info(self) -> dict:
        return {"labels": self.labels, **self.calibration()}


def save_reliability(metrics: dict, path: str) -> None:
    """The reliability diagram of `metrics` to `path` (written whole or not at all, never over
    a run's own file)."""
    from ..plots import plot_reliability

    label = f"{'calibrated' if metrics['calibrated'] else 'raw'} (ECE {metrics['ece']:.3f})"
    write_output(path, lambda tmp: plot_reliability({label: metrics["reliability"]}, tmp),
                 "reliability_plot")
    metrics["reliability_plot"] = str(path)


def predict_command(clf: Classifier, settings: PredictSettings, write, progress: bool) -> None:
    """`textrnn predict`: a line per text, label, probability and text (or JSON)."""
    texts = texts_of(settings, "classify")
    run = clf.ensemble(settings.ensemble) if settings.ensemble else clf
    proba = run.predict_proba(texts, progress=len(texts) > 1000 and progress,
                              calibrated=settings.temperature)
    for text, p in zip(texts, proba):
        best = int(p.argmax())
        if settings.json:
            write(json.dumps({"text": text, "label": run.labels[best], "probability": float(p[best]),
                              "probabilities": dict(zip(run.labels, map(float, p)))}) + "\n")
        else:
            write(f"{run.labels[best]}\t{p[best]:.4f}\t{text}\n")


def unknown_words(ids, lengths, unk: int, p: float):
    """Word dropout (Iyyer et al. 2015): each real token becomes <unk> with probability p.
    Without it <unk> is never seen in training, so at test time every new word feeds the
    model an untrained vector; with it, an unseen word reads as "some word" and the words
    around it decide."""
    real = real_positions(lengths, ids.shape[1])  # (B, T)
    drop = (torch.rand(ids.shape, device=ids.device) < p) & real
    return torch.where(drop, torch.full_like(ids, unk), ids)


def classify_endpoint(server, name: str, clf: Classifier, body: ClassifyRequest) -> dict:
    """POST /v1/classify: each text's label and probabilities, and with `explain` its
    tokens' contributions."""
    server.cap_texts(body.texts)
    proba = clf.predict_proba(body.texts)  # (n, classes), at the fitted temperature
    results = [{"label": clf.labels[int(p.argmax())],
                "probabilities": dict(zip(clf.labels, map(float, p)))} for p in proba]
    if body.explain:
        for text, r in zip(body.texts, results):
            r["explanation"] = contributions(clf, text, server.cfg.max_explain_tokens)
    return {"model": name, **clf.calibration(), "results": results}


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
