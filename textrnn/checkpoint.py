"""The run folder: plain files that `save_pretrained` writes and `load_pretrained` reads.

config.json        ModelConfig (task, encoding kind, vocabulary, encoder, head) + textrnn version
model.safetensors  weights (never a pickle); metadata records the training step
tokenizer.json     the data's encoding, in the file its task's encoding names (encodings.py):
                   tokenizer.json, readable by `tokenizers.Tokenizer.from_file`, or
                   scaler.json, tokenizer_pair.json, or a task's own
training_state.pt  resume state, read with `torch.load(weights_only=True)`
manifest.json      the run's id, and the step, size and SHA-256 of each file above
(The names are run_files.py's.)

Writes are durable and atomic (files.py); the manifest is rewritten after the files it
describes and checked when they are read (manifest.py). Loading compares config.json with
the weights' header before it allocates anything, so a crafted folder cannot exhaust memory.
"""
import json
import pickle
import re
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ModelConfig
from .device import resolve_device
from .errors import CheckpointError, ConfigError, first_line, setting_name
from .files import atomic_write, write_text
from .hub import run_folder
from .model_card import write_card
from .manifest import new_run_id, read_count, read_run_id, record_files, run_id_of, verify_file
from .run_files import CONFIG, STATE, WEIGHTS
from .tasks import TASKS, build_model, config_from_dict, encoding_of
from .version import __version__


def _write_if_changed(path: Path, text: str) -> bool:
    """Write `text` unless the file already holds exactly it (True if it was written):
    files that stay the same through a run are then never in the middle of a rewrite."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_text(path, text)
    return True


def _shared(model) -> set:
    """Names of parameters that are an earlier name's (a tied matrix): safetensors refuses
    tensors that share memory, so each is stored once, under its first name. Identity,
    not storage, decides, so this works on the meta device too."""
    seen, shared = set(), set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        (shared.add(name) if id(tensor) in seen else seen.add(id(tensor)))
    return shared


def _cpu_state_dict(model) -> dict:
    shared = _shared(model)
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items() if k not in shared}


def save_config(run_dir, model, tokenizer, step: int, run_id: str) -> str:
    """Write config.json and the encoding's file (tokenizer.json, ...) for `model` where they
    changed, and list them in the manifest; returns the encoding's file name."""
    config_text = json.dumps(dict(model.cfg.to_dict(), textrnn_version=__version__), indent=2) + "\n"
    encoding = encoding_of(model.cfg)
    changed = [_write_if_changed(run_dir / encoding.file, encoding.save(tokenizer)),
               _write_if_changed(run_dir / CONFIG, config_text)]
    if any(changed):  # listed before any weights come: a kill in between leaves them vouched for
        record_files(run_dir, step, [encoding.file, CONFIG], run_id)
    return encoding.file


def save_pretrained(run_dir, model, tokenizer, step: int = 0, run_id: str | None = None,
                    card: bool = True) -> None:
    """Write config.json, model.safetensors and tokenizer.json (or scaler.json) for `model`, as files of run
    `run_id` (by default the folder's own run, or a new one), and (`card`) its model card,
    README.md (model_card.py; training writes it once, at the end)."""
    run_dir = Path(run_dir)
    run_id = run_id or run_id_of(run_dir) or new_run_id()
    # The weights go last, so whenever they exist their tokenizer and config do too.
    encoding = save_config(run_dir, model, tokenizer, step, run_id)
    weights = _cpu_state_dict(model)
    meta = {"step": str(step), "run_id": run_id}
    atomic_write(run_dir / WEIGHTS, lambda tmp: save_file(weights, tmp, metadata=meta))
    record_files(run_dir, step, [encoding, CONFIG, WEIGHTS], run_id)
    if card:
        write_card(run_dir)  # a README.md of the user's own is kept (model_card.write_card)


def _version_tuple(v: str):
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    return tuple(int(p) for p in v.split(".")[:3] if re.fullmatch(r"[0-9]{1,9}", p))


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


def _open_weights(run_dir, read):
    """read(safe_open handle) on model.safetensors, its failures one line."""
    path = Path(run_dir) / WEIGHTS
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {WEIGHTS}; the run never saved weights")
    try:
        with safe_open(str(path), framework="pt") as f:
            return read(f)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({exc}); retrain or restore "
                              "it from a backup") from None


def weights_header(run_dir) -> tuple[dict, int, str | None]:
    """({name: shape}, step, run id) from the weights' header, no tensor read, the file
    checked against the manifest."""
    shapes, meta = _open_weights(run_dir, lambda f: ({k: tuple(f.get_slice(k).get_shape())
                                                      for k in f.keys()}, f.metadata() or {}))
    where = str(Path(run_dir) / WEIGHTS)
    step, run_id = read_count(meta.get("step", "0"), where), read_run_id(meta.get("run_id"), where)
    verify_file(run_dir, WEIGHTS, step, run_id)
    return shapes, step, run_id


def _tensors(run_dir) -> dict:
    return _open_weights(run_dir, lambda f: {k: f.get_tensor(k) for k in f.keys()})


def read_weights(run_dir) -> tuple[dict, int]:
    """(weights by name, the step they were saved at) from model.safetensors."""
    _, step, _ = weights_header(run_dir)
    return _tensors(run_dir), step


def check_shapes(run_dir, model, shapes: dict) -> None:
    """Refuse weights whose names or shapes differ from `model`'s (which may live on the
    meta device: nothing allocated yet)."""
    shared = _shared(model)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = set(expected) - set(shapes) - shared
    bad = [k for k, v in shapes.items() if expected.get(k) != v]
    if missing or bad:
        raise CheckpointError(f"{Path(run_dir) / CONFIG} does not match {WEIGHTS} (missing "
                              f"{sorted(missing)[:3]}, mismatched {bad[:3]}); the folder mixes "
                              "files of different runs, or config.json was edited")


def load_encoding(run_dir, cfg: ModelConfig):
    """The run's encoding (its tokenizer, scaler, ...), checked against config.json."""
    encoding = encoding_of(cfg)
    path = Path(run_dir) / encoding.file
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {encoding.file}; copy it from the original run")
    loaded = encoding.load(path)
    verify_file(run_dir, encoding.file)
    if encoding.size(loaded) != cfg.vocab_size:
        raise CheckpointError(f"{path} has {encoding.size(loaded)} entries but the model expects "
                              f"{cfg.vocab_size}; the folder mixes files of different runs")
    TASKS[cfg.task].check_encoding(loaded, cfg, path)
    return loaded


def load_pretrained(run_dir, device="cpu"):
    """(model in eval mode, its encoding (a tokenizer, ...), step) from a run folder or a
    Hub model id (`user/name[@revision]`, hub.py)."""
    run_dir = run_folder(run_dir)
    cfg = read_config(run_dir)
    tokenizer = load_encoding(run_dir, cfg)
    shapes, step, _ = weights_header(run_dir)  # the file is hashed and checked once, here
    with torch.device("meta"):  # sizes only: a crafted config.json allocates nothing
        check_shapes(run_dir, build_model(cfg), shapes)
    model = build_model(cfg)
    model.load_state_dict(_tensors(run_dir), strict=False)  # a tied matrix is stored once
    return model.to(device).eval(), tokenizer, step


def load(run_dir, device: str = "cpu"):
    """Load a run folder (or a Hub model id, `user/name[@revision]`) as its task's loaded
    class (Task.Loaded)."""
    run_dir = run_folder(run_dir)
    model, tokenizer, step = load_pretrained(run_dir, resolve_device(device))
    return TASKS[model.cfg.task].Loaded(model, tokenizer, run_dir, step)


def save_training_state(run_dir, state: dict) -> None:
    """training_state.pt; `state["run_id"]`, if there, names the run it belongs to."""
    atomic_write(Path(run_dir) / STATE, lambda tmp: torch.save(state, tmp))
    record_files(run_dir, state["step"], [STATE], state.get("run_id"))


def load_training_state(run_dir) -> dict:
    """Read training_state.pt without running code: `weights_only=True` unpickles only
    tensors and plain containers, and refuses anything that would call a function."""
    path = Path(run_dir) / STATE
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {STATE}; nothing to resume, train without "
                              f"{setting_name('resume', True)}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path} was refused: it holds objects other than tensors and plain "
                              f"data ({first_line(exc)}); it may be malicious, do not use it") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({first_line(exc)}); "
                              "delete it to start over, or restore a backup") from None
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise CheckpointError(f"{path} is not a textrnn training state; delete it to start over")
    verify_file(run_dir, STATE, read_count(state["step"], str(path)),
                read_run_id(state.get("run_id"), str(path)))
    return state

