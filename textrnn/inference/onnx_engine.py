"""Sampling steps run by onnxruntime (engine "onnxruntime"): a language model's stepper
traced once into an ONNX graph (onnx_graph.py, kept by onnx_cache.py), its matrices
quantised to int8 by onnxruntime's dynamic quantisation for int8 weights, each step one
call into onnxruntime's CPU kernels.

Why: at batch 1 a torch step makes about 35 calls (gates, chunks, adds), each with a few
microseconds of fixed cost, together about as long as the int8 products themselves, so
torch's int8 step runs at only about 1.4-1.5x its fp32 step (bench/sample_speed.py).
onnxruntime runs the whole graph in one call, its per-node cost a fraction of torch's.
"""
import contextlib
import importlib.util
import logging

import torch

from ..errors import ConfigError, first_line, setting_name
from . import onnx_cache
from .onnx_graph import widen
from .stepper import step_layout

log = logging.getLogger(__name__)

WEIGHTS = ("fp32", "int8")  # bf16 has no fast CPU kernels in onnxruntime

# onnxruntime's threads spin for a while after each run, waiting for the next. At batch 1
# that is its speed: waking a parked thread cost about 60 us a step on a 2-core virtual
# machine (4,100 against 3,300 tokens/s, int8). With many samples torch's sampling ops
# between steps run on several threads, and a spinning thread takes their core (batch 64:
# 16,000 against 40,000 tokens/s), so from SPIN_BELOW samples on the session's threads
# stop spinning when each run ends.
SPIN_BELOW = 16


class OnnxStepper:
    """`Stepper`'s interface (step_state, step) over onnxruntime sessions of one graph; its
    state is one (B, S) tensor (onnx_graph.widen)."""

    def __init__(self, graph: bytes, cells):
        self.graph, self.cells = graph, cells
        # The spinning session now (it also proves the graph loads); the other at first use.
        self.sessions = {True: _session(graph, spin=True)}

    def step_state(self, state, prompt=None):
        """The model's state (per layer, its cell's sequence layout) -> the (B, S) tensor
        the graph takes."""
        return widen(step_layout(self.cells, state))

    @torch.no_grad()
    def step(self, ids, state):
        """ids (B,) newest tokens, state (B, S) -> next-token scores (B, vocab), new state."""
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
    """A language model's step in onnxruntime, with its weights in `weights` format: the
    kept graph if it loads and its probe step agrees with torch's, else traced again."""
    _check_runnable(model, weights)
    cells = list(model.encoder.layers)
    path = onnx_cache.graph_path(model, weights)  # a hash of every weight: made once
    kept = onnx_cache.read_graph(path)
    if kept is not None:
        with contextlib.suppress(Exception):  # onnxruntime's own kinds: a damaged file
            stepper = OnnxStepper(kept, cells)
            if agrees(stepper, model, weights):
                return stepper
            log.info("the kept step graph disagrees with torch's step (another version "
                     "wrote it); tracing again")
    graph = onnx_cache.trace_graph(model, weights, path)
    try:
        return OnnxStepper(graph, cells)
    except Exception as exc:
        raise ConfigError(f"onnxruntime could not load the step graph ({first_line(exc)}); "
                          f"sample with {setting_name('engine', 'torch')}") from exc


# How far a probe step's scores may be from torch's fp32 step, as a fraction of their
# spread: onnxruntime's fp32 kernels agree to about 1e-6, its int8 products to a few
# hundredths; a graph of other weights or another graph scheme is off by the whole spread.
PROBE_TOLERANCE = {"fp32": 1e-3, "int8": 0.25}


@torch.no_grad()
def agrees(stepper: OnnxStepper, model, weights: str) -> bool:
    """One step from a real state, on onnxruntime and on the model itself: do the scores
    agree?"""
    ids = torch.arange(2) % model.cfg.vocab_size  # (2,)
    _, state = model(ids[:, None])  # a state in the model's layout
    want = model(ids[:, None], state)[0][:, -1]  # (2, V): the next step, as training runs it
    got, _ = stepper.step(ids, stepper.step_state(state))
    spread = (want.max() - want.min()).clamp_min(1e-6)
    return bool(((got - want).abs().max() / spread) <= PROBE_TOLERANCE[weights])


def check_weights(weights: str) -> None:
    """One line unless the engine runs this weights format."""
    if weights not in WEIGHTS:
        raise ConfigError(f"the onnxruntime engine runs {' or '.join(WEIGHTS)} weights, not "
                          f"{weights}; use {setting_name('weights', 'int8')} (fastest on a CPU) or fp32")


def _check_runnable(model, weights: str) -> None:
    """One line for what the engine cannot run."""
    check_weights(weights)
    if next(model.parameters()).device.type != "cpu":
        raise ConfigError(f"the onnxruntime engine runs on the CPU; use {setting_name('device', 'cpu')}, "
                          f"or {setting_name('engine', 'torch')} on a GPU")
    if model.cfg.encoder.conv_kernel:
        raise ConfigError(f"the onnxruntime engine cannot run a conv front end "
                          f"({setting_name('conv_kernel')}); use {setting_name('engine', 'torch')}")
    if importlib.util.find_spec("onnxruntime") is None:
        raise ConfigError("the onnxruntime engine needs onnxruntime: pip install 'textrnn[export]'")
