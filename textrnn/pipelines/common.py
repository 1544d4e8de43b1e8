"""What every training run does first: check settings, pick the device, guard the run folder."""
from pathlib import Path

from ..checkpoint import CONFIG, STATE, load_pretrained
from ..device import resolve_device, resolve_precision
from ..errors import CheckpointError, ConfigError, check_range
from ..training import seed_everything

RUN_SETTINGS = "training_config.json"


def prepare_run_dir(out, resume: bool, overwrite: bool) -> Path:
    """Refuse to train over an earlier run unless asked to continue or replace it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose a folder")
    has_run = (out / CONFIG).exists() or (out / STATE).exists()
    if resume and not has_run:
        raise CheckpointError(f"nothing to resume in {out}; train without --resume first")
    if has_run and not (resume or overwrite):
        raise ConfigError(f"{out} already holds a run; pass --resume to continue it, "
                          "--overwrite to replace it, or choose another --out")
    return out


def check_data_settings(data: str, has_val_source: bool, val_fraction: float, vocab_size: int,
                        val_flag: str):
    """The checks every run's data settings share: a source, a usable split, a vocabulary."""
    if not data:
        raise ConfigError("no training data: pass --data PATH_OR_HUB_ID")
    if not has_val_source:
        check_range("val-fraction", val_fraction, 0, 1, low_open=True, high_open=True,
                    hint=f"or pass {val_flag}")
    check_range("vocab-size", vocab_size, 3, 10_000_000)


def start_run(train_cfg, out, resume: bool, overwrite: bool):
    """(device, precision, run folder) for a run, with every RNG seeded; the settings
    were checked by the run's check_*_run."""
    device = resolve_device(train_cfg.device)
    precision = resolve_precision(train_cfg.precision, device)
    run_dir = prepare_run_dir(out, resume, overwrite)
    seed_everything(train_cfg.seed)
    return device, precision, run_dir


def saved_run(run_dir):
    """(config, tokenizer) of the run to resume, after checking that the folder's config,
    tokenizer and weights are whole (manifest included), before any data is read."""
    model, tokenizer, _ = load_pretrained(run_dir)
    return model.cfg, tokenizer
