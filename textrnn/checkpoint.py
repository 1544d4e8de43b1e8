"""The run folder: plain files that `save_pretrained` writes and `load_pretrained` reads.

config.json        ModelConfig (task, tokenizer kind, vocabulary, encoder, head) + textrnn version
model.safetensors  weights (never a pickle); metadata records the training step
tokenizer.json     readable by `tokenizers.Tokenizer.from_file`
training_state.pt  resume state, read with `torch.load(weights_only=True)`
manifest.json      the step, size and SHA-256 of each file above, as last saved

Every file is written to a temporary name in the same folder and renamed into place,
so a crash mid-save leaves the previous version of each file whole. The manifest is
rewritten after the files it describes, and checked when they are read: a file that is
truncated, edited or copied in from another run is refused, while one from a newer save
that was cut off before its manifest update (whole, thanks to the rename) is accepted.
"""
import hashlib
import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ModelConfig
from .device import resolve_device
from .errors import CheckpointError, ConfigError
from .tasks import TASKS, build_model, config_from_dict
from .tokenization import load_tokenizer
from .version import __version__

CONFIG, WEIGHTS, TOKENIZER, STATE = "config.json", "model.safetensors", "tokenizer.json", "training_state.pt"
MANIFEST = "manifest.json"


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


def _write_if_changed(path: Path, text: str) -> bool:
    """Write `text` unless the file already holds exactly it; True if it was written.
    Files that stay the same through a run are then never in the middle of a rewrite."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return True


# ---- manifest ---------------------------------------------------------------------------
def _digest(path: Path) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def _read_manifest(run_dir: Path, strict: bool = True) -> dict | None:
    path = run_dir / MANIFEST
    if not path.is_file():
        return None  # folders from save_pretrained of older versions, or copied by hand
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("files"), dict):
            return data
    except (ValueError, OSError):
        pass
    if strict:
        raise CheckpointError(f"{path} is damaged; delete it to load the folder without the "
                              "file checks")
    return None


def record_files(run_dir, step: int, names) -> None:
    """Note in manifest.json the step and digest of `names`, which are already in place."""
    run_dir = Path(run_dir)
    manifest = _read_manifest(run_dir, strict=False) or {"files": {}}
    for name in names:
        manifest["files"][name] = {"step": int(step), **_digest(run_dir / name)}
    manifest["textrnn_version"] = __version__
    write_json(run_dir / MANIFEST, manifest)


def verify_file(run_dir, name: str, saved_step: int | None = None) -> None:
    """Refuse `name` unless it is the copy manifest.json recorded, or a whole newer one
    (`saved_step`, read from the file itself, beyond the recorded step)."""
    run_dir = Path(run_dir)
    manifest = _read_manifest(run_dir)
    entry = manifest and manifest["files"].get(name)
    if not isinstance(entry, dict):
        return
    recorded = {k: entry.get(k) for k in ("bytes", "sha256")}
    if _digest(run_dir / name) == recorded:
        return
    if saved_step is not None and saved_step > int(entry.get("step", 0)):
        return
    raise CheckpointError(f"{run_dir / name} is not the copy saved at step {entry.get('step')} "
                          f"(its size or checksum differs from {MANIFEST}): it was truncated, "
                          "edited or copied from another run; restore it, or retrain")


def _cpu_state_dict(model) -> tuple[dict, set]:
    """(weights to store, names left out): safetensors refuses tensors that share memory,
    so a tied matrix is stored once, under its first name."""
    state, seen, shared = {}, set(), set()
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            shared.add(name)
            continue
        seen.add(tensor.data_ptr())
        state[name] = tensor.detach().to("cpu").contiguous()
    return state, shared


def save_pretrained(run_dir, model, tokenizer, step: int = 0) -> None:
    """Write config.json, model.safetensors and tokenizer.json for `model`."""
    run_dir = Path(run_dir)
    config_text = json.dumps(dict(model.cfg.to_dict(), textrnn_version=__version__), indent=2) + "\n"
    # The weights go last, so whenever they exist their tokenizer and config do too.
    written = [name for name, text in ((TOKENIZER, tokenizer.to_str(pretty=True)),
                                       (CONFIG, config_text)) if _write_if_changed(run_dir / name, text)]
    weights, _ = _cpu_state_dict(model)
    atomic_write(run_dir / WEIGHTS,
                 lambda tmp: save_file(weights, tmp, metadata={"step": str(step)}))
    record_files(run_dir, step, written + [WEIGHTS])


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
        cfg = config_from_dict(data, str(path))
    except TypeError as exc:
        raise CheckpointError(f"{path} is malformed ({exc})") from None
    verify_file(run_dir, CONFIG)  # after the checks above, whose messages say more
    return cfg


def read_weights(run_dir) -> tuple[dict, int]:
    """(weights by name, the step they were saved at) from model.safetensors."""
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
    step = int(meta.get("step", 0)) if str(meta.get("step", "0")).isdigit() else 0
    verify_file(run_dir, WEIGHTS, step)
    return weights, step


def load_weights(run_dir, model) -> int:
    """Load model.safetensors into `model`; return the step it was saved at."""
    weights, step = read_weights(run_dir)
    _, shared = _cpu_state_dict(model)
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing = set(expected) - set(weights) - shared
    bad = [k for k, v in weights.items() if k not in expected or expected[k] != v.shape]
    if missing or bad:
        raise CheckpointError(f"{Path(run_dir) / WEIGHTS} does not match {CONFIG} (missing "
                              f"{sorted(missing)[:3]}, mismatched {bad[:3]}); the folder mixes "
                              "files of different runs")
    model.load_state_dict(weights, strict=False)
    return step


def load_pretrained(run_dir, device="cpu"):
    """(model in eval mode, tokenizer, step) from a run folder."""
    cfg = read_config(run_dir)
    tok_path = Path(run_dir) / TOKENIZER
    if not tok_path.is_file():
        raise CheckpointError(f"{run_dir} has no {TOKENIZER}; copy it from the original run")
    tokenizer = load_tokenizer(tok_path)
    verify_file(run_dir, TOKENIZER)
    if tokenizer.get_vocab_size() != cfg.vocab_size:
        raise CheckpointError(f"{tok_path} has {tokenizer.get_vocab_size()} tokens but the model "
                              f"expects {cfg.vocab_size}; the folder mixes files of different runs")
    model = build_model(cfg)
    step = load_weights(run_dir, model)
    return model.to(device).eval(), tokenizer, step


def load(run_dir, device: str = "cpu"):
    """Load a run folder as its task's class: a `LanguageModel`, a `Classifier`, ..."""
    model, tokenizer, step = load_pretrained(run_dir, resolve_device(device))
    return TASKS[model.cfg.task].Loaded(model, tokenizer, run_dir, step)


def save_training_state(run_dir, state: dict) -> None:
    atomic_write(Path(run_dir) / STATE, lambda tmp: torch.save(state, tmp))
    record_files(run_dir, state["step"], [STATE])


def load_training_state(run_dir) -> dict:
    """Read training_state.pt without running code: `weights_only=True` unpickles only
    tensors and plain containers, and refuses anything that would call a function."""
    path = Path(run_dir) / STATE
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {STATE}; nothing to resume, train without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} was refused: it holds objects other than tensors and plain "
                              f"data ({_first(exc)}); it may be malicious, do not use it") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({_first(exc)}); "
                              "delete it to start over, or restore a backup") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CheckpointError(f"{path} is not a textrnn training state; delete it to start over")
    verify_file(run_dir, STATE, state["step"])
    return state


def _first(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
