"""A classifier run: labelled text -> tokenizer -> bucketed batches -> model -> the training loop."""
import logging
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..checkpoint import load_pretrained, write_json
from ..config import ModelConfig
from ..data.ids import encode_texts
from ..data.sources import Labelled, label_ids, label_names, load_labelled
from ..errors import DataError, check_range
from ..models import build_model
from ..plots import plot_confusion_matrix
from ..tasks import ClassifierTask, evaluate_classifier
from ..tokenization import train_tokenizer, truncate, with_leading_space
from ..training import METRICS_FILE, Trainer, TrainConfig
from ..transfer import classifier_from_lm, load_language_model
from .common import RUN_SETTINGS, check_data_settings, saved_run, start_run

log = logging.getLogger("textrnn")


@dataclass
class LabelledDataConfig:
    """Where labelled text comes from and how it is tokenized (classification)."""
    data: str = ""
    eval_data: str | None = None
    test_data: str | None = None
    val_fraction: float = 0.1
    text_column: str | None = None
    label_column: str | None = None
    split: str = "train"
    eval_split: str = "test"
    data_config: str | None = None
    tokenizer: str | None = None     # word for a new model; that of --init-from when fine-tuning
    vocab_size: int = 20000
    lowercase: bool = True
    strip_html: bool = True
    max_length: int = 400
    keep_end: bool = True            # a longer text keeps its last max_length tokens
    class_weights: bool = False

    def validate(self) -> "LabelledDataConfig":
        check_data_settings(self.data, self.eval_data is not None, self.val_fraction,
                            self.vocab_size, "--eval-data")
        check_range("max-length", self.max_length, 1, 10_000_000)
        return self


def _split_validation(data: Labelled, fraction: float, seed: int):
    """Hold out a stratified random `fraction` (labelled files are often sorted by class)."""
    from sklearn.model_selection import train_test_split

    idx = list(range(len(data.texts)))
    counts = Counter(map(str, data.labels))
    stratify = [str(y) for y in data.labels] if min(counts.values()) >= 2 else None
    try:
        tr, va = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(f"cannot hold out {fraction:.0%} for validation ({exc}); pass --eval-data "
                        "or change --val-fraction") from None
    pick = lambda ids: Labelled([data.texts[i] for i in ids], [data.labels[i] for i in ids], data.names)
    return pick(tr), pick(va)


def _class_weights(labels: list[int], n: int):
    """Inverse-frequency weights, n_examples / (n_classes * count), so each class counts equally."""
    import torch

    counts = Counter(labels)
    return torch.tensor([len(labels) / (n * counts[c]) for c in range(n)], dtype=torch.float32)


def check_classifier_run(data_cfg: LabelledDataConfig, model_cfg: ModelConfig,
                         train_cfg: TrainConfig) -> None:
    """Check every setting of a classifier run before any data is read."""
    data_cfg.validate()
    replace(model_cfg, task="classifier", labels=["a", "b"], vocab_size=1).validate()
    train_cfg.validate()


@dataclass
class Splits:
    """Labelled train / validation / [test] examples with their class ids."""
    names: list[str]
    train: Labelled
    val: Labelled
    test: Labelled | None
    y_train: list[int]
    y_val: list[int]
    y_test: list[int] | None


def load_splits(data_cfg: LabelledDataConfig, seed: int, names: list[str] | None = None) -> Splits:
    """Read and check the labelled data: at least two classes in training, and no
    validation or test label outside `names` (those of the training data by default)."""
    load = lambda src, split: load_labelled(src, data_cfg.text_column, data_cfg.label_column,
                                            split, data_cfg.data_config)
    train = load(data_cfg.data, data_cfg.split)
    if data_cfg.eval_data:
        val = load(data_cfg.eval_data, data_cfg.eval_split)
    else:
        train, val = _split_validation(train, data_cfg.val_fraction, seed)
    test = load(data_cfg.test_data, data_cfg.eval_split) if data_cfg.test_data else None
    names = names or label_names(train)
    if len(names) < 2:
        raise DataError(f"{data_cfg.data} has a single class ({names[0]!r}); a classifier "
                        "needs examples of at least two classes")
    return Splits(names, train, val, test, label_ids(train, names, data_cfg.data),
                  label_ids(val, names, data_cfg.eval_data or data_cfg.data),
                  label_ids(test, names, data_cfg.test_data) if test else None)


def train_classifier(data_cfg: LabelledDataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                     out, resume=False, overwrite=False, show_progress=True, init_from=None) -> dict:
    """Train (or resume) a text classifier into run folder `out`. Returns the result of
    `Trainer.fit()` plus "run_dir", with test metrics under "test" when test data is given.

    `init_from` (an LM run folder) reuses its tokenizer, embedding and recurrent layers.
    """
    check_classifier_run(data_cfg, model_cfg, train_cfg)
    device, precision, run_dir = start_run(train_cfg, out, resume, overwrite)
    saved = saved_run(run_dir) if resume else None
    data = load_splits(data_cfg, train_cfg.seed, saved[0].labels if saved else None)
    train, val, test, names = data.train, data.val, data.test, data.names

    model = None
    if saved:
        model_cfg, tokenizer = saved
    elif init_from:  # ULMFiT: the LM's tokenizer, embedding and RNN; a fresh head
        lm, tokenizer = load_language_model(init_from, data_cfg.tokenizer)
        tokenizer = with_leading_space(tokenizer)
        truncate(tokenizer, data_cfg.max_length, data_cfg.keep_end)
        model = classifier_from_lm(lm, model_cfg, names)
        model_cfg = model.cfg
    else:
        kind = data_cfg.tokenizer or "word"
        tokenizer = train_tokenizer(kind, train.texts, data_cfg.vocab_size,
                                    lowercase=data_cfg.lowercase, strip_html=data_cfg.strip_html,
                                    max_length=data_cfg.max_length, leading_space=True,
                                    keep_end=data_cfg.keep_end)
        model_cfg = ModelConfig(**{**asdict(model_cfg), "task": "classifier", "labels": names,
                                   "tokenizer": kind, "vocab_size": tokenizer.get_vocab_size()})
    y_train, y_val, y_test = data.y_train, data.y_val, data.y_test
    log.info("examples: %d train, %d validation%s; classes: %s", len(y_train), len(y_val),
             f", {len(y_test)} test" if test else "", ", ".join(names))

    model = (model or build_model(model_cfg)).to(device)
    weights = _class_weights(y_train, len(names)) if data_cfg.class_weights else None
    task = ClassifierTask(encode_texts(tokenizer, train.texts), y_train,
                          encode_texts(tokenizer, val.texts), y_val, names,
                          train_cfg.batch_size, train_cfg.seed, weights)
    trainer = Trainer(model, task, train_cfg, run_dir, tokenizer, device, precision,
                      resume=resume, show_progress=show_progress)
    write_json(run_dir / RUN_SETTINGS, {"data": asdict(data_cfg), "training": asdict(train_cfg)})
    result = trainer.fit()
    result["run_dir"] = str(run_dir)
    if result["status"] != "interrupted":
        _report_classifier(run_dir, result, device, precision,
                           (encode_texts(tokenizer, test.texts), y_test) if test else None)
    return result


def _report_classifier(run_dir: Path, result: dict, device, precision, test):
    """Add test metrics (of the kept model) to metrics.json; draw confusion matrices."""
    plot_confusion_matrix(result["metrics"]["confusion_matrix"], result["metrics"]["labels"],
                          run_dir / "confusion_val.png", "validation")
    if test is None:
        return
    best, _, _ = load_pretrained(run_dir, device)
    result["test"] = evaluate_classifier(best, test[0], test[1], best.cfg.labels, device, precision)
    write_json(run_dir / METRICS_FILE, {"val": result["metrics"], "test": result["test"]})
    plot_confusion_matrix(result["test"]["confusion_matrix"], best.cfg.labels,
                          run_dir / "confusion_test.png", "test")
