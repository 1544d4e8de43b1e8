"""What runs each sampling step (`engine`): torch's ops, or the same step traced into
onnxruntime. A new engine is a function (model, weights) -> an object with
`step_state(state, prompt)` and `step(ids, state)` over batch-first states, as
stepper.py's `Stepper`, plus its entry in `ENGINES`."""
import time
import weakref

import torch

from .onnx_engine import onnx_stepper
from .stepper import SequenceStepper, Stepper, lm_stepper

ENGINES = {"torch": lm_stepper, "onnxruntime": onnx_stepper}
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


@torch.no_grad()
def _seconds_per_step(stepper, model, ids, steps: int = 5) -> float:
    """Median seconds of one step of `stepper` at batch ids.size(0), after a warm-up step."""
    _, state = model(ids[:, None])  # a real state in the model's layout
    state = stepper.step_state(state, ids[:, None])
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
