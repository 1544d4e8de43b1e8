"""Whole training runs, as the CLI and the recipes start them: data -> tokenizer -> model
-> the training loop -> run folder."""
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .checkpoint import CONFIG, TOKENIZER, read_config, write_json
from .config import ModelConfig
from .data import encode_stream, load_corpus, split_tail
from .device import resolve_device, resolve_precision
from .errors import CheckpointError, ConfigError, DataError, check_range
from .models import build_model
from .tasks import LMTask
from .tokenization import load_tokenizer, train_tokenizer
from .training import Trainer, TrainConfig, seed_everything

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
    tokenizer: str = "char"
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


def train_language_model(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                         out, resume=False, overwrite=False, show_progress=True) -> dict:
    """Train (or resume) a language model into run folder `out`; returns the result of
    `Trainer.fit()` plus "run_dir"."""
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

    if resume:  # the saved model and vocabulary win: ids and shapes must not change
        tokenizer = load_tokenizer(run_dir / TOKENIZER)
        model_cfg = read_config(run_dir)
    else:
        tokenizer = train_tokenizer(data_cfg.tokenizer, [train_text], data_cfg.vocab_size)
        model_cfg = ModelConfig(**{**asdict(model_cfg), "task": "lm", "tokenizer": data_cfg.tokenizer,
                                   "vocab_size": tokenizer.get_vocab_size()})
    train_ids = encode_stream(tokenizer, train_text)
    val_ids = encode_stream(tokenizer, val_text)
    need = train_cfg.batch_size * (train_cfg.bptt + 1)
    if train_ids.numel() < need:
        raise DataError(f"the training text has {train_ids.numel()} tokens, fewer than one batch "
                        f"of windows needs ({train_cfg.batch_size} x {train_cfg.bptt + 1} = {need}); "
                        "add text or lower --batch-size / --bptt")
    if val_ids.numel() < 2:
        raise DataError("the validation text has fewer than 2 tokens; raise --val-fraction or "
                        "pass a longer --val-data")
    log.info("text: %d characters (%d tokens) for training, %d for validation", len(train_text),
             train_ids.numel(), len(val_text))

    model = build_model(model_cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %s, %d parameters, vocabulary %d, device %s, %s", model_cfg.cell,
             n_params, model_cfg.vocab_size, device, precision)
    model.to(device)
    task = LMTask(train_ids, val_ids, len(val_text), train_cfg.batch_size, train_cfg.bptt)
    trainer = Trainer(model, task, train_cfg, run_dir, tokenizer, device, precision,
                      resume=resume, show_progress=show_progress)
    write_json(run_dir / RUN_SETTINGS, {"data": asdict(data_cfg), "training": asdict(train_cfg)})
    result = trainer.fit()
    result["run_dir"] = str(run_dir)
    return result
