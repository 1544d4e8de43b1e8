"""Learning-rate factors as plain functions of the step and the run's progress (0 -> 1)."""
import math


def linear_warmup(step: int, warmup_steps: int) -> float:
    """1/warmup_steps, 2/warmup_steps, ... up to 1: Adam's early steps are too large
    until its moment estimates settle (Liu et al. 2020)."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0


def cosine(progress: float, final_ratio: float) -> float:
    """Half a cosine from 1 down to `final_ratio` (Loshchilov & Hutter 2017)."""
    r = final_ratio
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def slanted_triangular(progress: float, cut: float = 0.1, ratio: float = 32.0) -> float:
    """STLR (Howard & Ruder 2018): a short linear rise over the first `cut` of training,
    then a long linear decay to 1/ratio of the peak."""
    p = min(max(progress, 0.0), 1.0)
    p = p / cut if p < cut else 1 - (p - cut) / (1 - cut)
    return (1 + p * (ratio - 1)) / ratio


def epoch_decay(epoch: int, hold: int = 3, rate: float = 0.9) -> float:
    """The rate held for `hold` epochs, then multiplied by `rate` each epoch: the
    schedule of the PatchTST (Nie et al. 2023) and SegRNN (Lin et al. 2023) code."""
    return rate ** max(0, epoch - hold)


def lr_factor(schedule: str, step: int, progress: float, warmup_steps: int, final_ratio: float,
              plateau_scale: float, epoch: int = 0) -> float:
    """The factor on the peak rate at `step` (in epoch `epoch`): stlr, or warmup times
    cosine decay, times the epoch decay, times a constant, or times the plateau halvings
    so far."""
    if schedule == "stlr":
        return slanted_triangular(progress)
    warm = linear_warmup(step, warmup_steps)
    if schedule == "cosine":
        return warm * cosine(progress, final_ratio)
    if schedule == "decay":
        return warm * epoch_decay(epoch)
    return warm * plateau_scale


def on_plateau(plateau: dict, improved: bool, patience: int = 2) -> None:
    """Halve the rate after `patience` evaluations in a row without improvement;
    `plateau` is the run state's {"scale", "bad_evals"}."""
    plateau["bad_evals"] = 0 if improved else plateau["bad_evals"] + 1
    if plateau["bad_evals"] >= patience:
        plateau["scale"], plateau["bad_evals"] = plateau["scale"] * 0.5, 0
