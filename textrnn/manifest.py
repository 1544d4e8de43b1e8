"""manifest.json: which run a folder holds (its id) and, for each file, the step, size and
SHA-256 it was last saved with. Files that carry their own metadata (the weights' header,
the training state) also carry the run id.

A file is accepted when it is the recorded copy, or a whole newer save of the same run cut
off before its manifest update (the rename makes it whole; the weights and the training
state carry the run's id, config.json and tokenizer.json are listed before the weights). A file of another run is
refused whatever its step; so is a file the manifest of an id-carrying run does not list.
Folders written before run ids existed (textrnn 0.1.0) are checked by digest alone.
"""
import hashlib
import json
import re
import secrets
from pathlib import Path

from .errors import CheckpointError
from .files import write_json
from .run_files import MANIFEST
from .version import __version__

_HEX = re.compile(r"^[0-9a-f]{64}$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def new_run_id() -> str:
    return secrets.token_hex(16)


def read_count(value, what: str) -> int:
    """A non-negative integer read from a run folder (a JSON number or a string of ASCII
    digits, as safetensors metadata holds), or one CheckpointError line."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise CheckpointError(f"{what} is not a step count ({value!r}); the file was edited or "
                          "damaged; restore it, or retrain")


def read_run_id(value, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and _RUN_ID.match(value):
        return value
    raise CheckpointError(f"{what} holds a malformed run id ({str(value)[:40]!r}); the file was "
                          "edited or damaged; restore it, or retrain")


def digest(path: Path) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def read_manifest(run_dir, strict: bool = True) -> dict | None:
    """The manifest, every field checked; None if there is none (or, not strict, if it is
    damaged)."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None  # folders from save_pretrained of older versions, or copied by hand
    try:
        return _checked(json.loads(path.read_text(encoding="utf-8")), path)
    except (ValueError, OSError, CheckpointError):
        if strict:
            raise CheckpointError(f"{path} is damaged; delete it to load the folder without the "
                                  "file checks") from None
        return None


def _checked(data, path) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ValueError("not a manifest")
    read_run_id(data.get("run_id"), str(path))
    for name, entry in data["files"].items():
        if not (isinstance(entry, dict) and isinstance(entry.get("bytes"), int)
                and isinstance(entry.get("sha256"), str) and _HEX.match(entry["sha256"])):
            raise ValueError(f"bad entry for {name}")
        read_count(entry.get("step", 0), f"{path} ({name})")
    return data


def start_run(run_dir, run_id: str) -> None:
    """A new manifest for run `run_id`, listing nothing yet: whatever an earlier run left
    in the folder is refused from now on."""
    write_json(Path(run_dir) / MANIFEST, {"run_id": run_id, "files": {},
                                          "textrnn_version": __version__})


def run_id_of(run_dir) -> str | None:
    manifest = read_manifest(run_dir, strict=False)
    return manifest.get("run_id") if manifest else None


def record_files(run_dir, step: int, names, run_id: str | None = None) -> None:
    """Note in manifest.json the step and digest of `names`, which are already in place."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir, strict=False) or {"files": {}}
    if run_id is not None:
        manifest["run_id"] = run_id
    for name in names:
        manifest["files"][name] = {"step": int(step), **digest(run_dir / name)}
    manifest["textrnn_version"] = __version__
    write_json(run_dir / MANIFEST, manifest)


def verify_file(run_dir, name: str, saved_step: int | None = None, run_id: str | None = None) -> None:
    """Refuse `name` unless it is the copy manifest.json recorded, or a whole newer save of
    the same run (`saved_step` and `run_id` read from the file itself)."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest is None:
        return
    owner = manifest.get("run_id")
    if owner and run_id and run_id != owner:
        raise CheckpointError(f"{run_dir / name} belongs to another run ({run_id[:8]}, this "
                              f"folder's is {owner[:8]}): it was copied in; restore this run's "
                              "copy, or retrain")
    entry = manifest["files"].get(name)
    if entry is None:
        if owner and run_id != owner:  # a file carrying this run's id is its first save, whole
            raise CheckpointError(f"{run_dir / name} is not part of the run in {run_dir} (its "
                                  f"{MANIFEST} does not list it): it was left by an earlier run "
                                  "or copied in; retrain, or finish the run that replaced it")
        return
    if digest(run_dir / name) == {k: entry[k] for k in ("bytes", "sha256")}:
        return
    if saved_step is not None and saved_step > read_count(entry.get("step", 0), MANIFEST) \
            and (run_id is not None or owner is None):
        return
    raise CheckpointError(f"{run_dir / name} is not the copy saved at step {entry.get('step')} "
                          f"(its size or checksum differs from {MANIFEST}): it was truncated, "
                          "edited or copied from another run; restore it, or retrain")
