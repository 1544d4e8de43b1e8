"""Whole training runs, as the CLI and the recipes start them: data -> tokenizer -> model
-> the training loop -> run folder."""
import hashlib
import logging
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .checkpoint import CONFIG, TOKENIZER, load_pretrained, read_config, write_json
from .config import ModelConfig
from .data import encode_stream, load_corpus, split_tail, token_dtype
from .device import resolve_device, resolve_precision
from .errors import CheckpointError, ConfigError, DataError, check_range
from .labelled import Labelled, encode_texts, label_ids, label_names, load_labelled
from .models import build_model
from .plots import plot_confusion_matrix
from .tasks import ClassifierTask, LMTask, evaluate_classifier
from .tokenization import load_tokenizer, train_tokenizer
from .transfer import (classifier_from_lm, continue_config, extend_tokenizer, load_language_model,
                       resize_vocab, with_config)
from .training import METRICS_FILE, Trainer, TrainConfig, seed_everything

log = logging.getLogger("textrnn")
RUN_SETTINGS = "training_config.json"


@dataclass
class DataConfig:
    """Where the text comes from and how it is tokenized."""
    data: str = ""
    val_data: str | None = None
    val_fraction: float = 0.1
    text_column: str | None = None
    split: str = "train"
    data_config: str | None = None
    tokenizer: str | None = None     # char for a new model; that of --init-from when continuing
    vocab_size: int = 10000

    def validate(self) -> "DataConfig":
        if not self.data:
            raise ConfigError("no training data: pass --data PATH_OR_HUB_ID")
        if self.val_data is None:
            check_range("val-fraction", self.val_fraction, 0, 1, low_open=True, high_open=True,
                        hint="or pass --val-data")
        check_range("vocab-size", self.vocab_size, 3, 10_000_000)
        return self


def prepare_run_dir(out, resume: bool, overwrite: bool) -> Path:
    """Refuse to train over an earlier run unless asked to continue or replace it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose a folder")
    has_run = (out / CONFIG).exists() or (out / "training_state.pt").exists()
    if resume and not has_run:
        raise CheckpointError(f"nothing to resume in {out}; train without --resume first")
    if has_run and not (resume or overwrite):
        raise ConfigError(f"{out} already holds a run; pass --resume to continue it, "
                          "--overwrite to replace it, or choose another --out")
    return out


LARGE_TEXT = 1 << 24  # characters; longer texts are tokenized to a memory-mapped file


def encode_cached(tokenizer, text: str, run_dir: Path, name: str):
    """Token ids of `text`; a large text's ids go to run_dir/tokens/ (memory-mapped) and are
    reused when the same text and tokenizer come again (e.g. on --resume)."""
    if len(text) < LARGE_TEXT:
        return encode_stream(tokenizer, text)
    key = hashlib.blake2b(tokenizer.to_str().encode("utf-8"), digest_size=8)
    for start in range(0, len(text), 1 << 22):  # piece by piece: no second copy of the text
        key.update(text[start:start + (1 << 22)].encode("utf-8"))
    path = run_dir / "tokens" / f"{name}-{key.hexdigest()}.bin"
    if path.exists():
        return np.memmap(path, dtype=token_dtype(tokenizer.get_vocab_size()), mode="r")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    encode_stream(tokenizer, text, tmp)
    tmp.replace(path)  # a kill mid-way never leaves a short file under the final name
    return np.memmap(path, dtype=token_dtype(tokenizer.get_vocab_size()), mode="r")


def train_language_model(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                         out, resume=False, overwrite=False, show_progress=True,
                         init_from=None, extend_vocab=False) -> dict:
    """Train (or resume) a language model into run folder `out`; returns the result of
    `Trainer.fit()` plus "run_dir".

    `init_from` starts from another LM run's weights and tokenizer (its architecture
    wins); with `extend_vocab`, tokens of the new text it lacks get new rows initialised
    to the mean embedding, otherwise they read as <unk>.
    """
    data_cfg.validate()
    train_cfg.validate()
    # Check the model settings now, before minutes of loading and tokenizing (the real
    # vocabulary size is known only after the tokenizer is trained).
    replace(model_cfg, task="lm", vocab_size=max(model_cfg.vocab_size, 1)).validate()
    device = resolve_device(train_cfg.device)
    precision = resolve_precision(train_cfg.precision, device)
    run_dir = prepare_run_dir(out, resume, overwrite)
    seed_everything(train_cfg.seed)

    text = load_corpus(data_cfg.data, data_cfg.text_column, data_cfg.split, data_cfg.data_config)
    if data_cfg.val_data:
        train_text = text
        val_text = load_corpus(data_cfg.val_data, data_cfg.text_column, data_cfg.split,
                               data_cfg.data_config)
    else:
        train_text, val_text = split_tail(text, data_cfg.val_fraction)

    model = None
    if resume:  # the saved model and vocabulary win: ids and shapes must not change
        tokenizer = load_tokenizer(run_dir / TOKENIZER)
        model_cfg = read_config(run_dir)
    elif init_from:
        model, tokenizer = load_language_model(init_from, data_cfg.tokenizer)
        if extend_vocab:
            tokenizer = extend_tokenizer(tokenizer, [train_text], data_cfg.vocab_size)
            model = resize_vocab(model, tokenizer.get_vocab_size())
        # The weights fix the architecture; dropouts and the like come from this run.
        model_cfg = continue_config(model.cfg, model_cfg, task="lm")
        model = with_config(model, model_cfg)
    else:
        kind = data_cfg.tokenizer or "char"
        tokenizer = train_tokenizer(kind, [train_text], data_cfg.vocab_size)
        model_cfg = ModelConfig(**{**asdict(model_cfg), "task": "lm", "tokenizer": kind,
                                   "vocab_size": tokenizer.get_vocab_size()})
    train_ids = encode_cached(tokenizer, train_text, run_dir, "train")
    val_ids = encode_cached(tokenizer, val_text, run_dir, "val")
    need = train_cfg.batch_size * (train_cfg.bptt + 1)
    if len(train_ids) < need:
        raise DataError(f"the training text has {len(train_ids)} tokens, fewer than one batch "
                        f"of windows needs ({train_cfg.batch_size} x {train_cfg.bptt + 1} = {need}); "
                        "add text or lower --batch-size / --bptt")
    if len(val_ids) < 2:
        raise DataError("the validation text has fewer than 2 tokens; raise --val-fraction or "
                        "pass a longer --val-data")
    log.info("text: %d characters (%d tokens) for training, %d for validation", len(train_text),
             len(train_ids), len(val_text))
    val_chars = len(val_text)
    text = train_text = val_text = None  # only the ids are needed from here on: free the text

    model = model or build_model(model_cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %s, %d parameters, vocabulary %d, device %s, %s", model_cfg.cell,
             n_params, model_cfg.vocab_size, device, precision)
    model.to(device)
    task = LMTask(train_ids, val_ids, val_chars, train_cfg.batch_size, train_cfg.bptt)
    trainer = Trainer(model, task, train_cfg, run_dir, tokenizer, device, precision,
                      resume=resume, show_progress=show_progress)
    write_json(run_dir / RUN_SETTINGS, {"data": asdict(data_cfg), "training": asdict(train_cfg)})
    result = trainer.fit()
    result["run_dir"] = str(run_dir)
    return result


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
    class_weights: bool = False

    def validate(self) -> "LabelledDataConfig":
        if not self.data:
            raise ConfigError("no training data: pass --data PATH_OR_HUB_ID")
        if self.eval_data is None:
            check_range("val-fraction", self.val_fraction, 0, 1, low_open=True, high_open=True,
                        hint="or pass --eval-data")
        check_range("vocab-size", self.vocab_size, 3, 10_000_000)
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


def train_classifier(data_cfg: LabelledDataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                     out, resume=False, overwrite=False, show_progress=True, init_from=None) -> dict:
    """Train (or resume) a text classifier into run folder `out`. Returns the result of
    `Trainer.fit()` plus "run_dir", with test metrics under "test" when test data is given.

    `init_from` (an LM run folder) reuses its tokenizer, embedding and recurrent layers.
    """
    data_cfg.validate()
    train_cfg.validate()
    replace(model_cfg, task="classifier", labels=["a", "b"], vocab_size=1).validate()
    device = resolve_device(train_cfg.device)
    precision = resolve_precision(train_cfg.precision, device)
    run_dir = prepare_run_dir(out, resume, overwrite)
    seed_everything(train_cfg.seed)

    load = lambda src, split: load_labelled(src, data_cfg.text_column, data_cfg.label_column,
                                            split, data_cfg.data_config)
    train = load(data_cfg.data, data_cfg.split)
    if data_cfg.eval_data:
        val = load(data_cfg.eval_data, data_cfg.eval_split)
    else:
        train, val = _split_validation(train, data_cfg.val_fraction, train_cfg.seed)
    test = load(data_cfg.test_data, data_cfg.eval_split) if data_cfg.test_data else None

    model = None
    if resume:
        tokenizer, model_cfg = load_tokenizer(run_dir / TOKENIZER), read_config(run_dir)
        names = model_cfg.labels
    else:
        names = label_names(train)
        if len(names) < 2:
            raise DataError(f"{data_cfg.data} has a single class ({names[0]!r}); a classifier "
                            "needs examples of at least two classes")
        if init_from:  # ULMFiT: the LM's tokenizer, embedding and RNN; a fresh head
            lm, tokenizer = load_language_model(init_from, data_cfg.tokenizer)
            tokenizer.enable_truncation(data_cfg.max_length)
            model = classifier_from_lm(lm, model_cfg, names)
            model_cfg = model.cfg
        else:
            kind = data_cfg.tokenizer or "word"
            tokenizer = train_tokenizer(kind, train.texts, data_cfg.vocab_size,
                                        lowercase=data_cfg.lowercase, strip_html=data_cfg.strip_html,
                                        max_length=data_cfg.max_length)
            model_cfg = ModelConfig(**{**asdict(model_cfg), "task": "classifier", "labels": names,
                                       "tokenizer": kind, "vocab_size": tokenizer.get_vocab_size()})
    y_train = label_ids(train, names, data_cfg.data)
    y_val = label_ids(val, names, data_cfg.eval_data or data_cfg.data)
    y_test = label_ids(test, names, data_cfg.test_data) if test else None
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
