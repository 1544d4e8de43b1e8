"""The onnxruntime engine's graphs kept on disk: tracing takes seconds, longer than sampling
thousands of tokens, so a finished graph is kept in the cache folder (CACHE_ENV, else the
user's cache folder), named by a hash of the weights and of every version that shapes it.

The name is no secret (anyone with the run folder can compute it), so a graph is trusted
only as far as the folder is:
- a folder that is not the user's own, or that others may write, is not used at all (as
  ssh treats a key file): graphs are traced in memory and a warning says why;
- each graph's SHA-256 is recorded in the folder's index when written and checked before
  use, so a file swapped or damaged later is traced again;
- the engine then runs one probe step against torch's (onnx_engine.py), which catches a
  graph left by another version that still hashed the same (staleness), not someone who
  can write the folder and its index.
A folder that cannot be written only costs the tracing each time. The folder is kept
under CACHE_LIMIT_ENV megabytes (default CACHE_LIMIT_MB): the least recently used graphs
go first."""
import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path

import torch

from ..errors import TextRNNError
from ..files import atomic_write, remove, write_json
from ..version import __version__
from .onnx_graph import OPSET, graph_bytes

log = logging.getLogger(__name__)

CACHE_ENV = "TEXTRNN_CACHE"
CACHE_LIMIT_ENV = "TEXTRNN_CACHE_MB"
CACHE_LIMIT_MB = 2048
GRAPH_SCHEME = 3  # part of the cache key: raise it when the graph is built differently
INDEX = "index.json"  # graph file name -> its SHA-256
_warned: set = set()  # folders already warned about, once per process


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "textrnn"


def cache_key(model, weights: str) -> str:
    """A hash of what the graph depends on: the weights, the config, the format and the
    versions of everything that writes or reads it."""
    import onnxruntime
    h = hashlib.sha256(repr((model.cfg, weights, GRAPH_SCHEME, OPSET, __version__,
                             torch.__version__, onnxruntime.__version__)).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy())
    return h.hexdigest()[:32]


def graph_path(model, weights: str) -> Path:
    return cache_dir() / "steps" / f"{cache_key(model, weights)}-{weights}.onnx"


def read_graph(path: Path) -> bytes | None:
    """The step graph kept at `path` (graph_path), if its bytes match the digest recorded
    when it was written, in a folder only this user can write."""
    if not path.is_file() or not _trusted(path.parent):
        return None
    try:
        graph = path.read_bytes()
    except OSError:  # unreadable: traced again
        return None
    if _index(path.parent).get(path.name) != hashlib.sha256(graph).hexdigest():
        log.info("the kept step graph %s does not match its recorded digest; tracing again", path)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return graph


def trace_graph(model, weights: str, path: Path) -> bytes:
    """Trace the step graph and keep it at `path` (graph_path), with its digest, where the
    folder allows."""
    graph = graph_bytes(model, weights)
    with contextlib.suppress(TextRNNError, OSError):  # no cache: the next run traces again
        _make_private(path.parent)
        if _trusted(path.parent):
            atomic_write(path, lambda tmp: Path(tmp).write_bytes(graph))
            index = _index(path.parent)
            index[path.name] = hashlib.sha256(graph).hexdigest()
            _prune(path.parent, index, keep=path.name)
            write_json(path.parent / INDEX, index)
    return graph


def _make_private(folder: Path) -> None:
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)


def _trusted(folder: Path) -> bool:
    """True for a folder (and index) owned by this user that no one else may write; else
    warns, once, and says how to fix it."""
    why = _untrusted(folder)
    if why and folder not in _warned:
        _warned.add(folder)
        log.warning("not using the step-graph cache %s: %s; graphs are traced each time until "
                    "it is fixed (chmod go-w, or point %s at a folder of your own)", folder, why,
                    CACHE_ENV)
    return not why


def _untrusted(folder: Path) -> str:
    for path in (folder, folder / INDEX):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            return f"{path} cannot be read ({exc.strerror})"
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            return f"{path} belongs to another user"
        if st.st_mode & 0o022:
            return f"{path} can be written by other users"
    return ""


def _index(folder: Path) -> dict:
    try:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}


def limit_bytes() -> int:
    try:
        return int(float(os.environ.get(CACHE_LIMIT_ENV, CACHE_LIMIT_MB)) * 2**20)
    except ValueError:
        return CACHE_LIMIT_MB * 2**20


def _prune(folder: Path, index: dict, keep: str) -> None:
    """Remove the least recently used graphs until the folder fits its limit (`keep`, the
    graph just written, stays even when it alone is larger)."""
    graphs = []
    for path in folder.glob("*.onnx"):
        with contextlib.suppress(OSError):
            st = path.stat()
            graphs.append((st.st_mtime, st.st_size, path))
    total, limit = sum(size for _, size, _ in graphs), limit_bytes()
    for _, size, path in sorted(graphs, key=lambda g: g[0]):
        if total <= limit:
            break
        if path.name != keep:
            remove(path)
            index.pop(path.name, None)
            total -= size
