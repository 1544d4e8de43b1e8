"""The run folder: plain files that `save_pretrained` writes and `load_pretrained` reads.

config.json        ModelConfig + textrnn version
model.safetensors  weights (never a pickle); metadata records the training step
tokenizer.json     readable by `tokenizers.Tokenizer.from_file`
training_state.pt  resume state, read with `torch.load(weights_only=True)`

Every file is written to a temporary name in the same folder and renamed into place,
so a crash mid-save leaves the previous version of each file whole.
"""
import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .version import __version__
from .config import ModelConfig, from_dict
from .errors import CheckpointError, ConfigError
from .models import build_model
from .tokenization import load_tokenizer

CONFIG, WEIGHTS, TOKENIZER, STATE = "config.json", "model.safetensors", "tokenizer.json", "training_state.pt"


def atomic_write(path: Path, write) -> None:
    """Call write(tmp_path), then rename tmp_path onto `path` (atomic on POSIX)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise CheckpointError(f"cannot write to {path.parent}: {exc.strerror}; "
                              "choose another --out folder or free some space") from None
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise CheckpointError(f"could not save {path}: {exc.strerror}; the previous copy is "
                              "intact; free some space or choose another --out") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def _cpu_state_dict(model) -> dict:
    # safetensors refuses tensors that share memory, so a tied matrix is stored once.
    state, seen = {}, {}
    for name, tensor in model.state_dict().items():
        key = tensor.data_ptr()
        if key in seen:
            continue
        seen[key] = name
        state[name] = tensor.detach().to("cpu").contiguous()
    return state


def save_pretrained(run_dir, model, tokenizer, step: int = 0) -> None:
    """Write config.json, model.safetensors and tokenizer.json for `model`."""
    run_dir = Path(run_dir)
    cfg = dict(vars(model.cfg), textrnn_version=__version__)
    weights = _cpu_state_dict(model)
    atomic_write(run_dir / WEIGHTS,
                 lambda tmp: save_file(weights, tmp, metadata={"step": str(step)}))
    atomic_write(run_dir / TOKENIZER, lambda tmp: tokenizer.save(tmp))
    write_json(run_dir / CONFIG, cfg)


def _version_tuple(v: str):
    return tuple(int(p) for p in v.split(".")[:3] if p.isdigit())


def read_config(run_dir) -> ModelConfig:
    path = Path(run_dir) / CONFIG
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"{run_dir} is not a folder; pass a run folder written by textrnn")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {CONFIG}; it is not a textrnn run folder "
                              "(or its training never saved)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); restore it from a backup "
                              "or retrain") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object; it is not a textrnn config")
    version = str(data.pop("textrnn_version", "0"))
    if _version_tuple(version) > _version_tuple(__version__):
        raise ConfigError(f"{path} was written by textrnn {version}, newer than this "
                          f"{__version__}; upgrade textrnn (pip install -U textrnn)")
    try:
        return from_dict(ModelConfig, data, str(path)).validate()
    except TypeError as exc:
        raise CheckpointError(f"{path} is malformed ({exc})") from None


def load_weights(run_dir, model) -> int:
    """Load model.safetensors into `model`; return the step it was saved at."""
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {WEIGHTS}; the run never saved weights")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            weights = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({exc}); retrain or restore "
                              "it from a backup") from None
    missing = set(model.state_dict()) - set(weights)
    tied = {"head.proj.weight"} if model.cfg.tie_weights else set()
    expected = {k: v.shape for k, v in model.state_dict().items()}
    bad = [k for k, v in weights.items() if k not in expected or expected[k] != v.shape]
    if (missing - tied) or bad:
        raise CheckpointError(f"{path} does not match {CONFIG} (missing {sorted(missing - tied)[:3]}, "
                              f"mismatched {bad[:3]}); the folder mixes files of different runs")
    model.load_state_dict(weights, strict=False)
    return int(meta.get("step", 0))


def load_pretrained(run_dir, device="cpu"):
    """(model in eval mode, tokenizer, step) from a run folder."""
    cfg = read_config(run_dir)
    tok_path = Path(run_dir) / TOKENIZER
    if not tok_path.is_file():
        raise CheckpointError(f"{run_dir} has no {TOKENIZER}; copy it from the original run")
    tokenizer = load_tokenizer(tok_path)
    if tokenizer.get_vocab_size() != cfg.vocab_size:
        raise CheckpointError(f"{tok_path} has {tokenizer.get_vocab_size()} tokens but the model "
                              f"expects {cfg.vocab_size}; the folder mixes files of different runs")
    model = build_model(cfg)
    step = load_weights(run_dir, model)
    return model.to(device).eval(), tokenizer, step


def save_training_state(run_dir, state: dict) -> None:
    atomic_write(Path(run_dir) / STATE, lambda tmp: torch.save(state, tmp))


def load_training_state(run_dir) -> dict:
    """Read training_state.pt without running code: `weights_only=True` unpickles only
    tensors and plain containers, and refuses anything that would call a function."""
    path = Path(run_dir) / STATE
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {STATE}; nothing to resume, train without --resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} was refused: it holds objects other than tensors and plain "
                              f"data ({_first(exc)}); it may be malicious, do not use it") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({_first(exc)}); "
                              "delete it to start over, or restore a backup") from None


def _first(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
