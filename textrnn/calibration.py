"""How far a classifier's probabilities can be trusted, and one temperature that mends them.

Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): divide
the logits by one T > 0 fitted on validation data to minimise the negative log-likelihood.
T > 1 softens an overconfident model; no prediction changes, since dividing every logit by
the same positive number keeps their order. softmax(log p / T) equals softmax(z / T) for
logits z, so a temperature applies to log-probabilities as well.

Measures, for probabilities P (N, C) and true classes y (N,):
- expected calibration error: predictions binned by their top probability into 15 equal
  bins on [0, 1]; the mean over bins, weighted by their share of examples, of |accuracy -
  mean confidence| (Naeini et al. 2015; Guo et al. 2017's ECE);
- Brier score: the mean over examples of sum_c (P[n, c] - 1{c = y_n})^2 (Brier 1950; the
  multi-class form, 0 best, 2 worst);
- NLL: the mean of -log P[n, y_n].
"""
import math

import torch

BINS = 15
# The range a fitted temperature may take: beyond it a model is not mis-calibrated but broken.
T_MIN, T_MAX = 0.05, 20.0


def with_temperature(log_proba, temperature: float):
    """(N, C) log-probabilities -> (N, C) probabilities at `temperature`."""
    return torch.softmax(log_proba.float() / temperature, -1)


def nll(log_proba, y) -> float:
    """Mean negative log-likelihood of classes y (N,) under log-probabilities (N, C)."""
    return float(-torch.log_softmax(log_proba.float(), -1).gather(1, y[:, None]).mean())


def fit_temperature(log_proba, y, iterations: int = 60) -> float:
    """The T in [T_MIN, T_MAX] that minimises validation NLL of log_proba / T.

    NLL is convex in 1/T (a log-sum-exp of terms linear in 1/T, minus one such term), so a
    golden-section search over 1/T finds its minimum; deterministic, no optimiser state."""
    z, y = log_proba.double(), torch.as_tensor(y)
    loss = lambda beta: nll(z * beta, y)  # noqa: E731 (beta = 1/T)
    lo, hi = 1 / T_MAX, 1 / T_MIN
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(iterations):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loss(b)
    return 1 / ((lo + hi) / 2)


def expected_calibration_error(proba, y, bins: int = BINS) -> float:
    """Top-label ECE with `bins` equal-width confidence bins."""
    proba, y = torch.as_tensor(proba, dtype=torch.float64), torch.as_tensor(y)
    conf, pred = proba.max(-1)
    right = (pred == y).double()
    # bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 joins bin 0
    which = (torch.ceil(conf * bins).long() - 1).clamp(0, bins - 1)
    total = 0.0
    for i in range(bins):
        inside = which == i
        if inside.any():
            total += float(inside.double().mean() * (right[inside].mean() - conf[inside].mean()).abs())
    return total


def reliability(proba, y, bins: int = BINS) -> list[dict]:
    """Per non-empty bin: its range, examples, accuracy and mean confidence (for the diagram)."""
    proba, y = torch.as_tensor(proba, dtype=torch.float64), torch.as_tensor(y)
    conf, pred = proba.max(-1)
    which = (torch.ceil(conf * bins).long() - 1).clamp(0, bins - 1)
    out = []
    for i in range(bins):
        inside = which == i
        if inside.any():
            out.append({"low": i / bins, "high": (i + 1) / bins, "examples": int(inside.sum()),
                        "accuracy": float((pred[inside] == y[inside]).double().mean()),
                        "confidence": float(conf[inside].mean())})
    return out


def brier_score(proba, y) -> float:
    """Multi-class Brier score: mean squared distance to the one-hot truth."""
    proba, y = torch.as_tensor(proba, dtype=torch.float64), torch.as_tensor(y)
    truth = torch.nn.functional.one_hot(y, proba.size(-1)).double()
    return float(((proba - truth) ** 2).sum(-1).mean())


def calibration_metrics(proba, y) -> dict:
    """ECE, Brier and NLL of probabilities (N, C) for classes y (N,)."""
    proba, y = torch.as_tensor(proba, dtype=torch.float64), torch.as_tensor(y)
    return {"ece": expected_calibration_error(proba, y), "brier": brier_score(proba, y),
            "nll": float(-proba.clamp_min(1e-12).log().gather(1, y[:, None]).mean())}
