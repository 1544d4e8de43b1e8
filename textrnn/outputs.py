"""Files a command writes where its user says (a forecast, a plot, an exported graph): never
one of a run folder's own files, and always through the durable writer (files.py), so a
crash leaves the old copy and a symbolic link is replaced, not followed."""
import os
from pathlib import Path

from .errors import ConfigError, setting_name
from .files import atomic_write
from .manifest import read_manifest
from .run_files import LOCK, MANIFEST, WRITTEN, holds_run

OWN = {*WRITTEN, MANIFEST, LOCK}


def is_run_file(path) -> bool:
    """Whether `path` is a file of the run in its folder: one its manifest lists, or one of
    a run folder's own names (run_files.py), in a folder that holds a run."""
    path = Path(os.path.realpath(path))
    folder = path.parent
    if not holds_run(folder):
        return False
    manifest = read_manifest(folder, strict=False) or {"files": {}}
    return path.name in OWN or path.name in manifest["files"]


def check_output(path, setting: str) -> Path:
    """`path`, refused in one line if it would replace a run's own file or its folder is
    missing."""
    path = Path(path)
    if is_run_file(path):
        raise ConfigError(f"{setting_name(setting, path)} is a file of the run in {path.parent}; "
                          "writing there would damage the run, choose another path")
    if not path.resolve().parent.is_dir():
        raise ConfigError(f"the folder of {path} does not exist; create it or choose another "
                          f"{setting_name(setting)}")
    return path


def write_output(path, write, setting: str) -> Path:
    """write(tmp_path) puts the file's content in place, then `path` becomes that file,
    durably and atomically (after check_output)."""
    path = check_output(path, setting)
    atomic_write(path, write)
    return path


def emit_lines(lines: list[str], output, write) -> None:
    """A use command's result lines: to the file `output` (--output, written whole and
    atomically, then one line saying so), else each through `write` to the terminal."""
    if output:
        def put(tmp):
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(lines)
        write(f"wrote {write_output(output, put, 'output')}\n")
        return
    for line in lines:
        write(line)

