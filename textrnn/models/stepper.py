"""One recurrent step at a time, for sampling: the same maths as the encoder, fewer calls.

At batch 1 a step of `nn.LSTM` is dominated by per-call set-up, not arithmetic. Two
tricks remove most of it:
- the first layer's input projection W_ih·embed(token) + b is precomputed for every
  token, so it becomes a row lookup in a (vocab, G·H) table;
- each step is a handful of plain tensor ops (one matmul per layer, in the cells'
  steppers, cells.py), with no packing, validation or dropout branches.
The weights are captured when the stepper is built, so build a new one after they change;
`weights` picks the format they are held in (step_weights.py), and `ENGINES` what runs the
step: these torch ops, or the same step traced into onnxruntime (onnx_step.py).
"""
import time
import weakref

import torch

from .onnx_step import onnx_stepper


class EncoderStepper:
    """An `RNNEncoder` one token at a time (unidirectional, eval mode); `RNNEncoder.stepper()`
    builds it. Call it under `torch.no_grad()` (Stepper does)."""

    def __init__(self, layers, table=None, features=None):
        """layers: one cell stepper per layer, bottom first; table (vocab, G*H): the first
        layer's input projection of every token's embedding, or None when `features`, the
        encoder's ids (B, k) -> (B, k, E), runs a conv front end before the first layer. It
        reads <pad> as zeros, the convolution's own left padding, so a window left-padded
        with <pad> before the text starts is exact."""
        self.layers, self.table, self.features = layers, table, features

    @staticmethod
    def step_state(state):
        """Encoder state (list of (1, B, H) tensors, (h, c) pairs for an LSTM) -> per-layer
        step states of (B, H) tensors."""
        return [tuple(t[0] for t in s) if isinstance(s, tuple) else s[0] for s in state]

    def step(self, ids, state):
        """ids: (B,) newest tokens, or (B, k) the last k for a conv front end; state from
        `step_state`. Returns the top layer's output h (B, H) and the new state."""
        if self.features is not None:
            gi = self.layers[0].input_proj(self.features(ids)[:, -1])  # newest position (B, E)
        else:
            gi = self.table[ids]  # (B, G*H)
        h, s = self.layers[0].step(gi, state[0])  # h: (B, H)
        new_state = [s]
        for layer, s in zip(self.layers[1:], state[1:]):
            h, s = layer.step_from(h, s)  # from the layer below's output (B, H)
            new_state.append(s)
        return h, new_state


class Stepper:
    """Incremental inference for an `RNNLanguageModel`: its encoder's stepper, then the head's
    scorer. `RNNLanguageModel.stepper()` builds it."""

    def __init__(self, encoder: EncoderStepper, score):
        self.encoder = encoder
        self.score = score  # h (B, H) -> next-token scores (B, vocab)

    def step_state(self, state):
        """The model's state (list of (1, B, H) tensors) -> the state `step` takes."""
        return self.encoder.step_state(state)

    @torch.no_grad()
    def step(self, ids, state):
        """ids: (B,) newest tokens, or (B, k) the last k for a conv front end; state from
        `step_state`. Returns next-token scores (B, vocab) and the new state."""
        h, state = self.encoder.step(ids, state)
        return self.score(h), state


class SequenceStepper:
    """A step as the model's own forward over a (B, 1) sequence: torch's fused recurrent
    kernels, which at large batches beat the stepper's separate ops on some CPUs."""

    def __init__(self, model):
        self.model = model

    def step_state(self, state):
        return state  # the model's own layout: per layer (1, B, H), (h, c) for an LSTM

    @torch.no_grad()
    def step(self, ids, state):
        """ids (B,) newest tokens -> next-token scores (B, vocab), new state."""
        scores, state = self.model(ids[:, None], state)  # (B, 1, vocab)
        return scores[:, 0], state


# Below this many samples at once the stepper's fewer calls always win; from it on, which
# of the two paths is faster depends on the machine (measured: 0.79x to 1.8x), so it is timed.
TIMED_FROM = 16
_faster: dict = {}  # (model shape, batch, device, threads) -> the faster path's class


def fastest_stepper(model, batch: int, weights: str = "fp32", engine: str = "torch"):
    """`cached_stepper(model, weights, engine)`, or on torch at `batch` >= TIMED_FROM with
    fp32 weights and no conv front end, whichever of it and `SequenceStepper` ran faster on
    this machine when first timed in this process (a few steps each). The two agree to
    float rounding."""
    stepper = cached_stepper(model, weights, engine)
    if engine != "torch" or weights != "fp32" or model.cfg.encoder.conv_kernel or batch < TIMED_FROM:
        return stepper
    device = next(model.parameters()).device
    key = (repr(model.cfg), batch, str(device), torch.get_num_threads())
    if key not in _faster:
        ids = torch.zeros(batch, dtype=torch.long, device=device)  # (B,)
        candidates = [stepper, SequenceStepper(model)]
        _faster[key] = type(min(candidates, key=lambda s: _seconds_per_step(s, model, ids)))
    return stepper if _faster[key] is Stepper else SequenceStepper(model)


# What runs each step (`--engine`): model, weights -> a stepper; onnx_step.py says why
# onnxruntime (an optional extra, imported there only when a graph is built).
ENGINES = {"torch": lambda model, weights: model.stepper(weights), "onnxruntime": onnx_stepper}
_steppers = weakref.WeakKeyDictionary()  # model -> {(weights, engine): (parameter versions, stepper)}


def cached_stepper(model, weights: str = "fp32", engine: str = "torch"):
    """The model's stepper on `engine` with `weights`, built again only when a parameter
    changed since the last call (torch counts every in-place change in `_version`; a move
    to another device or dtype gives new storage): building one copies every matrix, and
    quantising to int8 takes about as long as sampling 100 tokens."""
    versions = tuple((p.data_ptr(), p._version) for p in model.parameters())
    built = _steppers.setdefault(model, {}).get((weights, engine))
    if built is None or built[0] != versions:
        built = (versions, ENGINES[engine](model, weights))
        _steppers[model][(weights, engine)] = built
    return built[1]


@torch.no_grad()
def _seconds_per_step(stepper, model, ids, steps: int = 5) -> float:
    """Median seconds of one step of `stepper` at batch ids.size(0), after a warm-up step."""
    _, state = model(ids[:, None])  # a real state in the model's layout
    state = stepper.step_state(state)
    _, state = stepper.step(ids, state)
    times = []
    for _ in range(steps):
        _sync(ids.device)
        t0 = time.perf_counter()
        _, state = stepper.step(ids, state)
        _sync(ids.device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[steps // 2]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
