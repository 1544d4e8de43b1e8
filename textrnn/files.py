"""Durable, safe writes into a run folder, and the lock that keeps one writer per folder.

- A file is written under a fresh temporary name in its folder, fsynced, renamed over the
  old one, and the folder fsynced: after a crash or power cut each file is either the old
  copy or the whole new one (rename alone leaves the data in the page cache).
- Nothing is written through a symbolic link: the temporary file is created with O_EXCL
  and O_NOFOLLOW, and a rename replaces a link instead of following it.
- Files get the user's umask, like any other program's output (mkstemp's 0600 would keep
  a teammate or a serving process out).
- Every write failure (full disk, quota, file-size limit, permissions), whichever library
  reports it, becomes one CheckpointError line, and the previous copy stays as it was.
"""
import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
from pathlib import Path

from safetensors import SafetensorError

from .errors import CheckpointError, first_line, setting_name
from .run_files import LOCK

# What libraries raise when a write fails: safetensors and torch.save do not raise OSError.
WRITE_ERRORS = (OSError, SafetensorError, RuntimeError)


def write_failure(path, exc: BaseException, tmp=None) -> CheckpointError:
    """The one line for a failed write of `path` (through the temporary file `tmp`)."""
    return CheckpointError(f"could not save {path}: {_reason(exc, tmp)}; the previous copy is "
                           f"intact; free space or choose another {setting_name('out')}")


def _reason(exc: BaseException, tmp=None) -> str:
    """The operating system's reason. A library that hides it (torch.save reports a full
    disk as "unexpected pos") is asked again: one more byte written where it stopped
    fails with the real errno (No space left on device, File too large, ...)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if tmp is not None:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
            try:
                os.write(fd, b"\0")
            finally:
                os.close(fd)
        except OSError as probe:
            if probe.strerror:
                return probe.strerror
    return first_line(exc)


def _create(path: Path) -> int:
    """Open a new file for writing, never through a link; mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    return os.open(path, flags, 0o666)


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (setting it
    to read it would race with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# atomic_write's temporary files: ".NAME.<12 hex digits>.tmp" beside NAME (one left by a kill
# is textrnn's own, see training/checkpointer.py)
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def atomic_write(path, write) -> None:
    """Call write(tmp_path), then make `path` that file, durably and atomically."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(_create(tmp))
    except OSError as exc:
        raise CheckpointError(f"cannot write to {path.parent}: {_reason(exc)}; choose another "
                              f"{setting_name('out')} folder or free some space") from None
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # some writers (safetensors) make their file 0600
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except WRITE_ERRORS as exc:
        failure = write_failure(path, exc, tmp)
        tmp.unlink(missing_ok=True)
        raise failure from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_json(path) -> dict:
    """The JSON object in `path`, or {} if the file is missing, unreadable or holds anything
    else (for files a run describes itself with; the folder's checks give clearer messages)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def append_line(path, line: str) -> None:
    """Append one line (a log record), never through a link."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CheckpointError(f"{path} is a symbolic link; textrnn never writes through one: "
                                  "remove it") from None
        raise write_failure(path, exc) from None


def remove(path) -> None:
    """Delete a file (a link itself, never its target), if it exists."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CheckpointError(f"cannot remove {path}: {_reason(exc)}") from None


class FolderLock:
    """An exclusive lock on a run folder for the whole run: a second writer is refused.
    `flock` is released by the kernel when the process dies, so a killed run never leaves
    a stale lock; readers (sample, predict, evaluate, textrnn.load) take none."""

    def __init__(self, folder):
        self.folder, self.fd = Path(folder), None
        self.made = []  # what acquiring created, innermost last: undone if the run never starts

    def acquire(self) -> "FolderLock":
        path = self.folder / LOCK
        self.made = [p for p in (*reversed(self.folder.parents), self.folder, path) if not p.exists()]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise CheckpointError(f"cannot write to {self.folder}: {_reason(exc)}; choose another "
                                  "--out folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise CheckpointError(f"{self.folder} is in use by process {holder}, which is training "
                                  "into it; wait for it to end, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def release(self, undo: bool = False) -> None:
        """Drop the lock; with `undo` (the run failed before it began), also remove the
        lock file and folders that acquiring created, so a refused run leaves nothing."""
        if self.fd is None:
            return
        if undo:
            for made in reversed(self.made):
                with contextlib.suppress(OSError):
                    made.unlink() if made.name == LOCK else made.rmdir()
        with contextlib.suppress(OSError):
            os.close(self.fd)  # closing drops the lock
        self.fd = None
