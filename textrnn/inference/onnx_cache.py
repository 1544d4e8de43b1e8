"""The onnxruntime engine's graphs kept on disk: tracing takes seconds, longer than sampling
thousands of tokens, so a finished graph is kept in the cache folder (CACHE_ENV, else the
user's cache folder), named by a hash of the weights and of every version that shapes it.
A folder that cannot be written only costs the tracing each time; a file that does not
load is traced again."""
import contextlib
import hashlib
import os
from pathlib import Path

import torch

from ..errors import TextRNNError
from ..files import atomic_write
from ..version import __version__
from .onnx_graph import OPSET, graph_bytes

CACHE_ENV = "TEXTRNN_CACHE"
GRAPH_SCHEME = 3  # part of the cache key: raise it when the graph is built differently


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


def cached_graph(model, weights: str, rebuild: bool = False) -> bytes:
    """The step graph of `model` in `weights` format: read from the cache, or traced (and kept)."""
    path = graph_path(model, weights)
    if path.is_file() and not rebuild:
        with contextlib.suppress(OSError):  # unreadable: traced again below
            return path.read_bytes()
    graph = graph_bytes(model, weights)
    with contextlib.suppress(TextRNNError):  # no cache: the next run traces again
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(graph))
    return graph
