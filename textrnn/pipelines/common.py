"""What every training run does first: check settings, pick the device, guard the run folder."""
from pathlib import Path

from ..checkpoint import CONFIG, STATE
from ..device import resolve_device, resolve_precision
from ..errors import CheckpointError, ConfigError
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



def start_run(train_cfg, out, resume: bool, overwrite: bool):
    """(device, precision, run folder) for a run, with every RNG seeded."""
    train_cfg.validate()
    device = resolve_device(train_cfg.device)
    precision = resolve_precision(train_cfg.precision, device)
    run_dir = prepare_run_dir(out, resume, overwrite)
    seed_everything(train_cfg.seed)
    return device, precision, run_dir
