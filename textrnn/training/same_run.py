"""Under torchrun every process is started on its own, so nothing says they were given the
same run: another --lr on one machine trains replicas that silently drift apart, another
--max-steps leaves the others waiting for the collective timeout. Before anything else
each rank sends what defines its run (every setting, what each local data path holds, the
versions) and all compare; the first difference is one line on every rank, naming the flag
or file and both values.

A data path (--data, --val-data, --test-data, --init-from) is compared by what it holds,
not by its name, so machines may keep the data in different places: a file by its size
and the SHA-256 of its first megabyte, a folder by the names and sizes of its files and
the digest of their first megabyte together. A value that names no local path (a Hub id),
and every other setting, is compared as typed."""
import hashlib
from dataclasses import fields, is_dataclass
from pathlib import Path

import torch

from ..errors import ConfigError, setting_name
from ..version import __version__
from ..world import World, shared

PROBE_BYTES = 2**20  # the first megabyte of a file, or of a folder's files together
DATA_PATHS = ("data", "val_data", "test_data")  # the data settings that may name local paths
TRAINING_PATHS = ("data",)  # those that feed training: what --resume must find again


def same_run_on_every_rank(world: World, data_cfg, model_cfg, train_cfg, init_from=None,
                           resume: bool = False) -> None:
    """One line, on every rank, for the first thing that differs between the ranks' runs."""
    if world.size == 1:
        return
    mine = run_identity(data_cfg, model_cfg, train_cfg, init_from, resume)
    every = world.gather(mine)
    difference = first_difference(every)
    if difference:
        raise shared(ConfigError(difference), 0)


def run_identity(data_cfg, model_cfg, train_cfg, init_from=None, resume=False) -> dict:
    """{(section, name): (shown value, compared value)} for every setting and version of
    this rank; the data paths (and --init-from) compared by what they hold."""
    out = {("version", "textrnn"): (__version__, __version__),
           ("version", "torch"): (torch.__version__, torch.__version__)}
    for section, cfg in (("data", data_cfg), ("model", model_cfg), ("training", train_cfg)):
        for name, value in settings_of(cfg):
            held = section == "data" and name in DATA_PATHS
            out[section, name] = (_shown(value), _held(value) if held else value)
    out["start", "init_from"] = (_shown(init_from), _held(init_from))
    out["start", "resume"] = (str(resume), resume)
    return out


def training_data(data_cfg) -> dict:
    """{setting: [what each of its local paths holds]} for the settings that name training
    data (a value that is no local path, a Hub id, is left out): what --resume must find
    again, in training_config.json."""
    out = {}
    for name in TRAINING_PATHS:
        value = getattr(data_cfg, name, None)
        values = value if isinstance(value, list) else [value]
        held = [_held(v) for v in values]
        if any(isinstance(h, dict) for h in held):
            out[name] = held
    return out


def same_training_data(saved: dict, now: dict, data_cfg, run_dir) -> None:
    """One line if a setting names local data (`now`, from `training_data`) other than what
    the run `saved` trained on."""
    for name, then in saved.items():
        if name in now and now[name] != then:
            raise ConfigError(
                f"{setting_name(name, _shown(getattr(data_cfg, name)))} holds other data than "
                f"the run in {run_dir} trained on ({_what(now[name])} now, {_what(then)} then); "
                f"{setting_name('resume', True)} continues a run on its own data: pass that "
                "data, or start a new run from this one's weights")


def settings_of(cfg):
    """(name, value) of each field of a settings dataclass, nested ones (a model's encoder
    and head) by their own field names."""
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if is_dataclass(value):
            yield from settings_of(value)
        else:
            yield f.name, value


def first_difference(every: list[dict]) -> str:
    """The first setting on which some rank differs from rank 0, as one line; "" if none."""
    first = every[0]
    for rank, other in enumerate(every[1:], start=1):
        for key in sorted(first.keys() | other.keys(), key=_order):
            mine, theirs = first.get(key, ("unset", None)), other.get(key, ("unset", None))
            if mine[1] != theirs[1]:
                return _describe(key, rank, theirs, mine)
    return ""


def _order(key: tuple):
    return (key[0] != "version", key)  # versions first: they explain the rest


def _describe(key: tuple, rank: int, theirs, mine) -> str:
    section, name = key
    if section == "version":
        return (f"rank {rank} runs {name} {theirs[0]} and rank 0 runs {name} {mine[0]}; "
                "install the same versions on every machine")
    if theirs[0] == mine[0]:  # the same path, holding different data
        return (f"{setting_name(name, mine[0])} holds different data on rank {rank} "
                f"({_what(theirs[1])}) and on rank 0 ({_what(mine[1])}); give every process "
                "the same copy")
    return (f"rank {rank} was started with {setting_name(name, theirs[0])}{_held_by(theirs)} and "
            f"rank 0 with {setting_name(name, mine[0])}{_held_by(mine)}; start every process with "
            "the same settings and data")


def _held_by(entry) -> str:
    """" (a file of 1,234 bytes, ...)" for a setting that names local paths, else ""."""
    shown, compared = entry
    names_paths = isinstance(compared, dict) or (
        isinstance(compared, list) and any(isinstance(c, dict) for c in compared))
    return f" ({_what(compared)})" if names_paths else ""


def _what(value) -> str:
    """What a compared value holds, as a reader checks it: a path's size and digest."""
    if isinstance(value, list):
        return ", ".join(_what(v) for v in value) or "none"
    if isinstance(value, dict) and "unreadable" in value:
        return f"unreadable: {value['unreadable']}"
    if isinstance(value, dict):
        return f"a {value['kind']} of {value['bytes']:,} bytes, first megabyte {value['head'][:12]}"
    return "no such local path"


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def _held(value):
    """What a setting's value holds: a local path's identity (a dict, as JSON keeps it),
    else the value itself."""
    if isinstance(value, list):
        return [_held(v) for v in value]
    if not isinstance(value, str) or not value:
        return value
    path = Path(value)
    try:
        if path.is_file():
            return file_identity(path)
        if path.is_dir():
            return folder_identity(path)
    except OSError as exc:
        return {"unreadable": exc.strerror or str(exc)}
    return value


def file_identity(path: Path) -> dict:
    with open(path, "rb") as f:
        head = f.read(PROBE_BYTES)
    return {"kind": "file", "bytes": path.stat().st_size, "head": hashlib.sha256(head).hexdigest()}


def folder_identity(folder: Path) -> dict:
    """A folder by its files' names and sizes, and its first megabyte in name order."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    listing = hashlib.sha256()
    head, left, total = hashlib.sha256(), PROBE_BYTES, 0
    for p in files:
        size = p.stat().st_size
        total += size
        listing.update(f"{p.relative_to(folder).as_posix()}\0{size}\n".encode())
        if left > 0:
            with open(p, "rb") as f:
                chunk = f.read(left)
            head.update(chunk)
            left -= len(chunk)
    return {"kind": "folder", "bytes": total, "head": head.hexdigest(), "files": listing.hexdigest()}
