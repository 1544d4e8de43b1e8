"""Sequence classification (sentiment and other labels): texts in length-bucketed, padded
batches; the encoder's outputs pooled over real positions, then a linear layer."""
import logging
from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

from ..config import ModelConfig
from ..data import Labelled, bucketed_batches, collate, encode_texts, label_ids, load_labelled
from ..device import autocast
from ..errors import ConfigError
from ..metrics import classification_metrics, format_report
from ..models import RNNClassifier
from ..models.heads import POOLINGS
from ..parallel import World, current
from ..presets import CLASSIFIER_COMMAND_DEFAULTS, SMALL_DATA, fit_classifier_to_size
from ..settings import setting
from ..tokenization import KINDS, train_tokenizer, truncate, with_leading_space
from ..transfer import classifier_from_lm
from .base import LoadedRun, SourceSettings, check_texts
from .labelled_splits import Splits, class_weights, load_splits

log = logging.getLogger("textrnn")


@dataclass
class LabelledDataConfig(SourceSettings):
    """Where labelled text comes from and how it is tokenized."""
    data: str = setting("", "training examples: csv/tsv/jsonl/parquet, a folder with one "
                        "sub-folder of .txt files per class, or a Hugging Face Hub dataset id")
    eval_data: str | None = setting(None, "validation examples (default: --val-fraction of --data)")
    test_data: str | None = setting(None, "test examples, reported after training")
    val_fraction: float = setting(0.1, "fraction of --data held out for validation (stratified)",
                                  low=0, high=1, low_open=True, high_open=True)
    label_column: str | None = setting(None, "column holding the label (default: label, labels, "
                                       "sentiment, class or target)")
    eval_split: str = setting("test", "split of --eval-data and --test-data for Hub ids")
    tokenizer: str | None = setting(None, "word (default) for a new model; --init-from reuses "
                                    "its own", choices=KINDS)
    vocab_size: int = setting(20000, "word/bpe vocabulary size", low=3, high=10_000_000)
    min_frequency: int = setting(1, "a word seen fewer times than this in training reads as "
                                 "<unk>", low=1, high=10_000_000)
    lowercase: bool = setting(True, "keep upper case (lowercased by default)", flag="--no-lowercase")
    strip_html: bool = setting(True, "keep <br /> tags (stripped by default)", flag="--keep-html")
    max_length: int = setting(400, "tokens kept per text", low=1, high=10_000_000)
    keep_end: bool = setting(True, "cut a longer text after its first --max-length tokens (by "
                             "default it keeps its last ones, where a review usually gives its "
                             "verdict)", flag="--keep-start")
    class_weights: bool = setting(False, "weight the loss by inverse class frequency (imbalanced "
                                  "data)", flag="--class-weights")
    fit_to_size: bool = setting(True, f"keep the defaults whatever the data's size (by default, "
                                f"fewer than {SMALL_DATA:,} training examples get a narrower "
                                "model, word dropout and a run ended by patience; a flag typed "
                                "always wins)", flag="--no-fit-to-size")


@dataclass
class ClassifierHeadConfig:
    pooling: str = setting("last", "how the encoder's outputs become one vector", choices=POOLINGS)
    head_hidden: int = setting(0, "width of a BatchNorm + ReLU layer before the output "
                               "(ULMFiT: 50; 0: none)", low=0, high=1 << 16)
    labels: list = setting([], "class names, index = class id", cli=False)


@torch.no_grad()
def classify(model, seqs: list[list[int]], device, precision="fp32", batch_size=128, progress=False,
             world=World()):
    """Class probabilities (N, C) for token-id sequences, in their original order.

    Sequences are batched by length (little padding); packing makes each result the
    same as running the sequence alone. Under torchrun each rank reads a share of the
    batches, and every rank gets every probability.
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    out = torch.empty(len(seqs), len(model.cfg.head.labels))
    batches = bucketed_batches([len(s) for s in seqs], batch_size, seed=0, shuffle=False)
    mine = []
    for idx in tqdm(batches[world.share(len(batches))], disable=not progress, unit="batch",
                    desc="predicting"):
        ids, lengths = collate([seqs[i] for i in idx])
        with autocast(device, precision):
            logits = model(ids.to(device), lengths.to(device))
        mine.append((idx, torch.softmax(logits.float(), -1).cpu()))
    for idx, proba in (part for rank in world.gather(mine) for part in rank):
        out[idx] = proba
    model.train(was_training)
    return out


def evaluate_classifier(model, seqs, labels, names, device, precision="fp32", progress=False,
                        world=World()) -> dict:
    proba = classify(model, seqs, device, precision, progress=progress, world=world)
    y = torch.tensor(labels)
    metrics = classification_metrics(labels, proba.argmax(-1).tolist(), proba.numpy(), names)
    metrics["loss"] = float(F.nll_loss(proba.clamp_min(1e-12).log(), y))
    return metrics


class Classifier(LoadedRun):
    """A trained text classifier with its tokenizer and label names."""
    noun = "classifier"

    @property
    def labels(self) -> list[str]:
        return list(self.model.cfg.head.labels)

    def _encode(self, texts) -> list[list[int]]:
        return encode_texts(self.tokenizer, check_texts(texts))

    def predict_proba(self, texts, progress: bool = False):
        """Probabilities, a numpy array (n, classes) with columns in `labels` order."""
        return classify(self.model, self._encode(texts), self.device, progress=progress).numpy()

    def predict(self, texts, progress: bool = False) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, progress).argmax(-1)]

    def evaluate(self, path_or_dataset, text_column=None, label_column=None, split="test",
                 progress: bool = False) -> dict:
        """scikit-learn metrics on a labelled file, folder or Hub dataset (or a `Labelled`)."""
        data = path_or_dataset
        if not isinstance(data, Labelled):
            data = load_labelled(path_or_dataset, text_column, label_column, split)
        ids = label_ids(data, self.labels, str(path_or_dataset))
        return evaluate_classifier(self.model, self._encode(data.texts), ids, self.labels,
                                   self.device, progress=progress)

    evaluate_source = evaluate  # what `textrnn evaluate` calls, for every task
    describe = staticmethod(format_report)


class ClassifierTask:
    name, command, Head, Data, Loaded = ("classifier", "train-classifier", ClassifierHeadConfig,
                                         LabelledDataConfig, Classifier)
    command_defaults, encoder_flags_skip = CLASSIFIER_COMMAND_DEFAULTS, ()
    metric, mode, sampled_eval, loss_unit = "accuracy", "max", False, "nats per example"

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
    def new_tokenizer(data: Splits, data_cfg: LabelledDataConfig):
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
        """Settings for this many training examples, in place of defaults (see presets)."""
        return fit_classifier_to_size(len(data.train.texts)) if data_cfg.fit_to_size else {}

    @staticmethod
    def from_language_model(lm, tokenizer, data: Splits, data_cfg, model_cfg: ModelConfig):
        """ULMFiT: the LM's tokenizer, embedding and recurrent layers; a fresh head."""
        tokenizer = truncate(with_leading_space(tokenizer), data_cfg.max_length, data_cfg.keep_end)
        return classifier_from_lm(lm, model_cfg, list(data.names)), tokenizer

    @classmethod
    def prepare(cls, data: Splits, tokenizer, data_cfg, train_cfg, run_dir, model_cfg):
        log.info("examples: %d train, %d validation%s; classes: %s", len(data.y_train),
                 len(data.y_val), f", {len(data.y_test)} test" if data.test else "",
                 ", ".join(data.names))
        weights = class_weights(data.y_train, len(data.names)) if data_cfg.class_weights else None
        test = (encode_texts(tokenizer, data.test.texts), data.y_test) if data.test else None
        return cls(encode_texts(tokenizer, data.train.texts), data.y_train,
                   encode_texts(tokenizer, data.val.texts), data.y_val, data.names,
                   train_cfg.batch_size, train_cfg.seed, weights, test)

    def __init__(self, train_seqs, train_labels, val_seqs, val_labels, names, batch_size: int,
                 seed: int, class_weights=None, test=None):
        self.seqs, self.labels = train_seqs, torch.tensor(train_labels)
        self.val_seqs, self.val_labels = val_seqs, list(val_labels)
        self.names, self.batch_size, self.seed = names, batch_size, seed
        self.lengths = [len(s) for s in train_seqs]
        self.class_weights, self.test = class_weights, test
        self._epoch, self._batches = None, None

    def batches(self, epoch: int):
        if self._epoch != epoch:  # a fresh order each epoch, fixed by (seed, epoch)
            self._epoch = epoch
            self._batches = bucketed_batches(self.lengths, self.batch_size, self.seed * 1000 + epoch)
        return self._batches

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
        weight = None if self.class_weights is None else self.class_weights.to(device)
        return model(ids, lengths, targets=y, class_weights=weight), None

    def weight(self, batch) -> float:
        """A batch's weight in the global mean loss (see training.distributed.shard): its
        examples, or the sum of their class weights when the loss is weighted."""
        y = batch[2]
        return len(y) if self.class_weights is None else float(self.class_weights[y].sum())

    def evaluate(self, model, device, precision, final=False):
        return evaluate_classifier(model, self.val_seqs, self.val_labels, self.names, device,
                                   precision, world=current())

    def report(self, model, metrics, folder, device, precision) -> dict:
        """Confusion matrices, and the kept model's scores on the test data if given."""
        folder.plot_confusion(metrics, "val", "validation")
        if self.test is None:
            return {}
        test = evaluate_classifier(model, *self.test, self.names, device, precision, world=current())
        folder.plot_confusion(test, "test", "test")
        return {"test": test}
