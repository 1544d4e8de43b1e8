"""What runs each sampling step (`engine`): torch's ops, or the same step traced into
onnxruntime. A new engine is a function (model, weights) -> an object with
`step_state(state, prompt)` and `step(ids, state)` over batch-first states, as
stepper.py's `Stepper`, plus its entry in `ENGINES`."""
import weakref

from .onnx_engine import onnx_stepper
from .stepper import lm_stepper

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
