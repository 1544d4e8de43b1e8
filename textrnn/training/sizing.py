"""--size auto: fit the model to the machine it trains on.

A time budget means less on a slow or busy machine: the bundled play's 2x384 LSTM takes
~775 steps in 100 s on two idle cores but ~45 on one busy core, where it ends as letter
soup. So in its first seconds a run times its task's candidate sizes (`Task.sizes`,
smallest first, none larger than the configured model) on this machine, with its own
batches, precision and device, and keeps the largest that still takes `size_steps` steps
within the budget and, with `tokens_per_parameter` R, trains at least R tokens per weight.
The choice is logged, recorded in training_config.json and metrics.json, and kept by
--resume (the saved model wins); under torchrun rank 0 times and all ranks take its choice.

Why tokens per parameter (bench/size_rule.py, the character LSTM on Tiny Shakespeare, sizes
of 128 to 768 units, 2-core AMD EPYC): the best size trained 12.1 tokens per parameter at
100 s, 12.1 at 300 s and 37.5 at 900 s; sizes that trained 4 or fewer were 0.10-0.12 nats
worse than the best, one that trained 10 was 0.011 worse, and those that trained 12 to 108
were within 0.02 of it. Too large a model costs far more than too small a one, so the rule
keeps the largest that trains at least 12 (the corpus preset's `tokens_per_parameter`). A
step count says nothing of the model's size: "take 600 steps" let a 2x384 train 2.8
tokens per parameter at 300 s, 0.10 nats worse than the 2x256 beside it.
"""
import logging
import time
from dataclasses import replace

import torch

from ..device import autocast
from ..errors import ConfigError, setting_name

log = logging.getLogger("textrnn")

# The share of a time budget left for training steps: periodic evaluation, checkpoints and
# the progress log take the rest (measured on the bundled play: 5-10%).
STEP_SHARE = 0.85
TIMED_STEPS = 2  # after one untimed step (the first allocates and warms the kernels)
TIMING = ("size", "seconds_per_step", "steps_in_budget", "parameters",
          "tokens_per_parameter")  # a timing's entries that are no setting


def candidates(sizes: dict, encoder, cfg) -> dict:
    """The task's sizes no larger than the configured encoder, smallest first; the
    configured size itself (its encoder and training settings) is the last candidate."""
    fitting = {name: s for name, s in sizes.items() if s["hidden_size"] < encoder.hidden_size}
    own = {k: getattr(encoder if hasattr(encoder, k) else cfg, k) for k in next(iter(sizes.values()))}
    return {**fitting, "configured": own}


def split(settings: dict, encoder) -> tuple[dict, dict]:
    """A size's (encoder settings, training settings): a size may bring its own dropout and
    learning rate, since a small model trained briefly wants less of the one and more of the
    other than a large one trained long."""
    return ({k: v for k, v in settings.items() if hasattr(encoder, k)},
            {k: v for k, v in settings.items() if not hasattr(encoder, k)})


def tokens_per_step(batches) -> int:
    """The tokens of the batch a size is timed on (the first): what a step trains on."""
    return batches.tokens(batches.batch(0, 0))


def seconds_per_step(model, batches, device, precision) -> float:
    """The median seconds of a training step (forward, backward, Adam) on real batches."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times, carry = [], None
    for i in range(1 + TIMED_STEPS):
        t0 = time.perf_counter()
        with autocast(device, precision):
            loss, carry = batches.loss(model, batches.batch(0, i % batches.num_batches(0)), carry, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return sorted(times[1:])[len(times[1:]) // 2]


def choose(sizes: dict, time_one, budget: float, steps: int, per_parameter: float = 0.0,
           tokens_per_step: int = 0) -> tuple[str, list]:
    """The largest size whose measured pace takes `steps` steps in `budget` seconds and
    trains `per_parameter` tokens per weight (or the smallest, if none does): (name,
    timings). `time_one(settings)` gives (seconds per step, parameters). Sizes are timed
    smallest first and timing stops at the first that does not fit, so a slow machine
    times only small models."""
    chosen, timings = None, []
    for name, settings in sizes.items():
        pace, params = time_one(settings)
        taken = budget * STEP_SHARE / pace
        ratio = taken * tokens_per_step / params
        timings.append({"size": name, **settings, "seconds_per_step": round(pace, 4),
                        "steps_in_budget": int(taken), "parameters": params,
                        "tokens_per_parameter": round(ratio, 2)})
        fits = taken >= steps and ratio >= per_parameter
        if chosen is None or fits:
            chosen = name
        if not fits:
            break
    return chosen, timings


def fit_to_machine(kind, model, batches, cfg, device, precision, build) -> dict:
    """What --size auto chose for this machine, and the timings it chose by."""
    if not kind.sizes:
        raise ConfigError(f"{setting_name('size', 'auto')}: the {kind.Loaded.noun} task declares no "
                          f"sizes to choose from; drop {setting_name('size')}")
    encoder = model.cfg.encoder
    sizes = candidates(kind.sizes, encoder, cfg)

    def time_one(settings):
        gpus = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=gpus):  # timing draws no number the run will draw
            shape = split(settings, encoder)[0]
            trial = build(replace(model.cfg, encoder=replace(encoder, **shape))).to(device).train()
            params = sum(p.numel() for p in trial.parameters())  # a tied matrix once
            return seconds_per_step(trial, batches, device, precision), params

    name, timings = choose(sizes, time_one, cfg.time_budget, cfg.size_steps, cfg.tokens_per_parameter,
                           tokens_per_step(batches))
    record = {"chosen": name, **sizes[name], "steps_wanted": cfg.size_steps,
              "tokens_per_parameter_wanted": cfg.tokens_per_parameter,
              "time_budget": cfg.time_budget, "timed": timings}
    pace = next(t for t in timings if t["size"] == name)
    log.info("size auto: %s (hidden %d): %.3f s/step here, about %d steps in the %g s budget "
             "(%d wanted), %.1f tokens per parameter; timed %s", name, sizes[name]["hidden_size"],
             pace["seconds_per_step"], pace["steps_in_budget"], cfg.time_budget, cfg.size_steps,
             pace["tokens_per_parameter"],
             ", ".join(f"{t['size']} {t['seconds_per_step']:.3f} s" for t in timings))
    if pace["steps_in_budget"] < cfg.size_steps:
        log.warning("even the smallest size takes only about %d of the %d steps wanted in %g s on "
                    "this machine; pass a longer %s for a useful model", pace["steps_in_budget"],
                    cfg.size_steps, cfg.time_budget, setting_name("time_budget"))
    return record


def sized(model, cfg, record: dict, build, typed=frozenset()):
    """(model, training settings) of the size `record` chose: `model` itself if its shape
    is that size's, else one built from the same random state; a setting the user typed
    (`typed`) is kept."""
    chosen = {k: record[k] for k in record["timed"][0] if k not in TIMING and k not in typed}
    shape, training = split(chosen, model.cfg.encoder)
    cfg = replace(cfg, **training)
    if all(getattr(model.cfg.encoder, k) == v for k, v in shape.items()):
        return model, cfg
    return build(replace(model.cfg, encoder=replace(model.cfg.encoder, **shape))), cfg
