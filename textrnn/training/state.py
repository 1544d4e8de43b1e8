"""The resumable state of a run: one dataclass whose fields are training_state.pt's keys,
plus the model, optimizer and random-number-generator states saved beside them."""
import math
import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError, first_line, setting_name
from ..nested import to_device
from ..world import World


@dataclass
class RunState:
    step: int = 0                     # optimiser steps taken
    epoch: int = 0                    # passes over the data completed
    batch_index: int = 0              # the next batch of the current epoch
    elapsed: float = 0.0              # seconds of training, periodic evaluation included
    best: float | None = None         # the best validation metric so far
    clipped: int = 0                  # steps whose gradient norm was clipped
    window: list = field(default_factory=lambda: [0.0, 0])  # loss summed since the last log line, steps
    evals_without_gain: int = 0       # for early stopping
    schedule: dict = field(default_factory=lambda: {"scale": 1.0, "bad_evals": 0})  # plateau halving
    unfrozen: dict = field(default_factory=dict)  # layer group -> [step unfrozen at, warm-up steps]
    carry: Any = None                 # handed from one batch to the next (an LM's hidden state)
    data: Any = None                  # where the data stands, when batches are read in order (a stream)
    run_id: str | None = None         # the run's id, which every file it saves carries
    pace: float | None = None         # seconds per step, fixed early in a --time-budget run


def checkpoint(state: RunState, model, optimizer, train_config, average=None) -> dict:
    """What training_state.pt holds: the run state's fields, weights, optimizer, RNGs, and
    under --ema the weight average."""
    ckpt = {**{f.name: getattr(state, f.name) for f in fields(state)},
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(), "rng": rng_state(), "train_config": asdict(train_config)}
    if average is not None:
        ckpt["ema"] = average.state_dict()
    return ckpt


def restore(ckpt: dict, model, optimizer, cfg, device, run_dir, world=World(),
            average=None) -> RunState:
    """Load a checkpoint into `model`, `optimizer` and the weight `average` (--ema), set the
    RNGs (this rank's, under torchrun); return the run state. Files of textrnn 0.1.0 kept
    ULMFiT's unfreezing steps in the optimizer's groups. A run saved without --ema that
    resumes with it starts its average from the saved weights."""
    mine = own_part(ckpt, world, run_dir)
    saved = ckpt.get("train_config") if isinstance(ckpt.get("train_config"), dict) else {}
    changed = cfg.changed_on_resume(saved)
    if changed:
        flags = ", ".join(f"{setting_name(k, getattr(cfg, k))} (the run has {saved[k]})"
                          for k in changed)
        raise ConfigError(f"{flags}: a resumed run keeps the settings it was started with; "
                          "leave it out or give the run's value, or start a new run")
    try:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if average is not None:
            average.load_state_dict(ckpt.get("ema") or {"updates": 0, "weights": ckpt["model"]})
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"training_state.pt in {run_dir} does not fit this model "
                              f"({first_line(exc, 150)}); resume with the settings "
                              "the run was started with") from None
    state = RunState(**{f.name: ckpt[f.name] for f in fields(RunState) if f.name in ckpt})
    _check(state, f"{run_dir}/training_state.pt")
    for i, group in enumerate(optimizer.param_groups):
        if "unfrozen_at" in group:
            state.unfrozen[i] = [group.pop("unfrozen_at"), group.pop("ramp_steps", 0)]
    state.carry = to_device(mine.get("carry", state.carry), device)
    state.data = mine.get("data", state.data)
    set_rng_state(mine["rng"])
    return state


def own_part(ckpt: dict, world: World, run_dir) -> dict:
    """This rank's generators and carried state. Each rank drew its own dropout masks from
    its own stream, and those streams cannot be dealt out again to another number of
    processes: a run resumes with the number it was started with."""
    size = ckpt.get("world_size", 1)
    if size != world.size:
        raise ConfigError(f"{run_dir} was trained by {size} process(es) and cannot resume with "
                          f"{world.size}: start it with as many (torchrun --nnodes x "
                          "--nproc-per-node), or begin a new run")
    if world.size == 1:
        return ckpt
    ranks = ckpt.get("ranks")
    if not (isinstance(ranks, list) and len(ranks) == size and isinstance(ranks[world.rank], dict)
            and "rng" in ranks[world.rank]):
        raise CheckpointError(f"{run_dir}/training_state.pt lacks the state of rank {world.rank}; "
                              "the file was edited or damaged; restore it, or retrain")
    return ranks[world.rank]


def _check(s: RunState, where: str) -> None:
    """Every field read from the file has the type and range the loop relies on."""
    count = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
    ok = (all(count(getattr(s, k)) for k in ("step", "epoch", "batch_index", "clipped",
                                                "evals_without_gain"))
          and number(s.elapsed) and s.elapsed >= 0 and (s.best is None or number(s.best))
          and isinstance(s.window, list) and len(s.window) == 2 and number(s.window[0])
          and count(s.window[1]) and isinstance(s.schedule, dict)
          and number(s.schedule.get("scale")) and count(s.schedule.get("bad_evals"))
          and isinstance(s.unfrozen, dict) and (s.run_id is None or isinstance(s.run_id, str))
          and (s.pace is None or (number(s.pace) and 0 < s.pace < math.inf)))
    if not ok:
        raise CheckpointError(f"{where} holds a run state with malformed fields; the file was "
                              "edited or damaged; restore it, or retrain")


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    # Plain types and tensors only, so `torch.load(weights_only=True)` accepts the file.
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict):
    random.setstate(_tuples(state["python"]))
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x):
    # weights_only unpickling may return lists where the RNG setters insist on tuples.
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


