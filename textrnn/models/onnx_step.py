"""Sampling steps run by onnxruntime (`--engine onnxruntime`): a language model's stepper
traced once into an ONNX graph, its matrices quantised to int8 by onnxruntime's dynamic
quantisation for `--weights int8`, each step one call into onnxruntime's CPU kernels.

Why: at batch 1 a torch step makes about 35 calls (gates, chunks, adds), each with a few
microseconds of fixed cost, together about as long as the int8 products themselves, so
torch's int8 step runs at only about 1.4-1.5x its fp32 step (bench/sample_speed.py).
onnxruntime runs the whole graph in one call, its per-node cost a fraction of torch's.

The graph's state is one (B, S*H) tensor, the S tensors of the torch stepper's state (h, and
c for an LSTM, per layer) side by side: a batch-first tensor, so generation, beam search
and the server select, repeat and join its rows as they do the torch stepper's; and one
array crossing into onnxruntime and back rather than S (each crossing costs microseconds,
which at batch 1 add up to a tenth of a step). Tracing
takes seconds, longer than sampling thousands of tokens, so the finished graph is kept on
disk (CACHE_ENV, else the user's cache folder), named by a hash of the weights and of every
version that shapes it; a folder that cannot be written only costs the tracing each time.
"""
import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError, TextRNNError, first_line
from ..files import atomic_write
from ..version import __version__

OPSET = 18  # below torch 2.13's default (20), so runtimes from onnxruntime 1.14 on read it
CACHE_ENV = "TEXTRNN_CACHE"
WEIGHTS = ("fp32", "int8")  # bf16 has no fast CPU kernels in onnxruntime
GRAPH_SCHEME = 2  # part of the cache key: raise it when the graph is built differently


# ---- tracing (also `textrnn export`'s) -------------------------------------------------------
@contextlib.contextmanager
def quiet(*names):
    """The loggers of these names ("" the root) report errors only, inside the block."""
    loggers = [logging.getLogger(name or None) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def require_exporter() -> None:
    if tuple(int(x) for x in torch.__version__.split(".")[:2]) < (2, 6):
        raise ConfigError(f"ONNX export needs torch 2.6 or newer (this is {torch.__version__}); "
                          "upgrade torch")
    if not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript")):
        raise ConfigError("ONNX export needs the onnx and onnxscript packages: "
                          "pip install 'textrnn[export]'")


def trace(module: nn.Module, args: tuple, input_names, output_names, dynamic_shapes):
    """`module` called on `args` as an ONNX ModelProto, by torch's exporter."""
    require_exporter()
    # The exporter reports its stages on stdout and warns about its own internals (in
    # warnings and in torch's log); callers print the one line that matters.
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()), quiet("torch.onnx", "onnxscript", "onnx_ir"):
        warnings.simplefilter("ignore")
        try:
            return torch.onnx.export(module, args, dynamo=True, dynamic_shapes=dynamic_shapes,
                                     opset_version=OPSET, input_names=list(input_names),
                                     output_names=list(output_names)).model_proto
        except Exception as exc:  # the exporter raises many kinds; each is one line here
            raise ConfigError(f"torch's ONNX exporter could not export this model "
                              f"({first_line(exc, 200)}); run with --debug for details") from exc


# ---- the graph the engine runs ---------------------------------------------------------------
class WideStep(nn.Module):
    """The fp32 stepper with its state side by side: (ids (B,), state (B, S*H)) -> (scores
    (B, vocab), the new state (B, S*H)), S*H = [h0[, c0], h1[, c1], ...] of H each.
    `fuse`: layers above the first in one product over [input, state]."""

    def __init__(self, model, fuse: bool = False):
        super().__init__()
        self.stepper = model.stepper(fuse=fuse)
        self.lstm, self.hidden = model.cfg.encoder.cell == "lstm", model.cfg.encoder.hidden_size

    def forward(self, ids, state):
        scores, state = self.stepper.step(ids, unwiden(state, self.hidden, self.lstm))
        return scores, widen(state)


def widen(state):
    """Per layer (..., B, H) tensors (h, c pairs for an LSTM) -> one (..., B, S*H) tensor."""
    return torch.cat([t for s in state for t in (s if isinstance(s, tuple) else (s,))], -1)


def unwiden(wide, hidden: int, lstm: bool) -> list:
    """`widen`'s inverse: views of wide (B, S*H)."""
    flat = wide.split(hidden, -1)
    return list(zip(flat[0::2], flat[1::2])) if lstm else list(flat)


def _graph_bytes(model, weights: str) -> bytes:
    """The step graph; for `weights` "int8", with each matrix quantised (a layer above
    another as one product over [input, state]: one quantisation of its input per step,
    not two), one scale per matrix: on the README's character LSTM one scale per row
    (per_channel) ran about 15% slower, and both scored held-out text within 0.03% of fp32's
    bits per character (onnxruntime 1.32, 2-core Xeon)."""
    enc = model.cfg.encoder
    width = enc.num_layers * enc.hidden_size * (2 if enc.cell == "lstm" else 1)  # S*H
    B = 2  # an example batch; its axis is dynamic
    batch = torch.export.Dim("batch", min=1)
    args = (torch.full((B,), 2, dtype=torch.long), torch.zeros(B, width))
    proto = trace(WideStep(model, fuse=weights == "int8"), args, ["ids", "state"],
                  ["scores", "state_out"], ({0: batch}, {0: batch}))
    if weights == "fp32":
        return proto.SerializeToString()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    with tempfile.TemporaryDirectory() as tmp, quiet(""):  # it advises pre-processing at warning level
        out = Path(tmp) / "int8.onnx"
        quantize_dynamic(proto, out, weight_type=QuantType.QInt8)
        return out.read_bytes()


# ---- the disk cache ----------------------------------------------------------------------------
def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "textrnn"


def _cache_key(model, weights: str) -> str:
    """A hash of what the graph depends on: the weights, the config, the format and the
    versions of everything that writes or reads it."""
    import onnxruntime
    h = hashlib.sha256(repr((model.cfg, weights, GRAPH_SCHEME, OPSET, __version__,
                             torch.__version__, onnxruntime.__version__)).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy())
    return h.hexdigest()[:32]


def _cached_graph(model, weights: str, rebuild: bool = False) -> bytes:
    path = cache_dir() / "steps" / f"{_cache_key(model, weights)}-{weights}.onnx"
    if path.is_file() and not rebuild:
        with contextlib.suppress(OSError):  # unreadable: traced again below
            return path.read_bytes()
    graph = _graph_bytes(model, weights)
    with contextlib.suppress(TextRNNError):  # no cache: the next run traces again
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(graph))
    return graph


# ---- the stepper ----------------------------------------------------------------------------
# onnxruntime's threads spin for a while after each run, waiting for the next. At batch 1
# that is its speed: waking a parked thread cost about 60 us a step on a 2-core virtual
# machine (4,100 against 3,300 tokens/s, int8). With many samples torch's sampling ops
# between steps run on several threads, and a spinning thread takes their core (batch 64:
# 16,000 against 40,000 tokens/s), so from SPIN_BELOW samples on the session's threads
# stop spinning when each run ends.
SPIN_BELOW = 16


class OnnxStepper:
    """`Stepper`'s interface (step_state, step) over onnxruntime sessions of one graph."""

    def __init__(self, graph: bytes):
        self.graph = graph
        # The spinning session now (it also proves the graph loads); the other at first use.
        self.sessions = {True: _session(graph, spin=True)}

    @staticmethod
    def step_state(state):
        """The model's state (list of (1, B, H) tensors, (h, c) pairs for an LSTM) -> the
        (B, S*H) tensor the graph takes."""
        return widen(state)[0]

    @torch.no_grad()
    def step(self, ids, state):
        """ids (B,) newest tokens, state (B, S*H) -> next-token scores (B, vocab), new state."""
        feed = {"ids": ids.numpy(), "state": state.contiguous().numpy()}
        scores, state = self._session(ids.size(0) < SPIN_BELOW).run(None, feed)
        return torch.from_numpy(scores), torch.from_numpy(state)

    def _session(self, spin: bool):
        if spin not in self.sessions:
            self.sessions[spin] = _session(self.graph, spin)
        return self.sessions[spin]


def _session(graph: bytes, spin: bool):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # as many as torch's own steps use
    if not spin:
        options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def onnx_stepper(model, weights: str = "fp32") -> OnnxStepper:
    """A language model's step in onnxruntime, with its weights in `weights` format."""
    _check_runnable(model, weights)
    graph = _cached_graph(model, weights)
    try:
        return OnnxStepper(graph)
    except Exception:  # onnxruntime's own kinds: a damaged cache file, so trace again
        graph = _cached_graph(model, weights, rebuild=True)
    try:
        return OnnxStepper(graph)
    except Exception as exc:
        raise ConfigError(f"onnxruntime could not load the step graph ({first_line(exc)}); "
                          "sample with --engine torch") from exc


def check_weights(weights: str) -> None:
    """One line unless the engine runs this weights format."""
    if weights not in WEIGHTS:
        raise ConfigError(f"--engine onnxruntime runs {' or '.join(WEIGHTS)} weights, not "
                          f"{weights}; pass --weights int8 (fastest on a CPU) or fp32")


def _check_runnable(model, weights: str) -> None:
    """One line for what the engine cannot run."""
    check_weights(weights)
    if next(model.parameters()).device.type != "cpu":
        raise ConfigError("--engine onnxruntime runs on the CPU; pass --device cpu, or "
                          "--engine torch on a GPU")
    if model.cfg.encoder.conv_kernel:
        raise ConfigError("--engine onnxruntime cannot run a conv front end (--conv-kernel); "
                          "use --engine torch")
    if importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError("--engine onnxruntime needs onnxruntime: pip install 'textrnn[export]'")
