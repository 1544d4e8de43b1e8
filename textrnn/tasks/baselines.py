"""Forecasts that need no training, to read a model's scores against: the naive forecast
(the last value, repeated), the seasonal naive one (the last season, repeated) and one
least-squares linear map from the lookback to the horizon, shared by the channels.

Each forecast takes windows' inputs x (B, L, C) standardised and returns (B, H, K); the
scores run batch by batch, never over an array of every window.
"""
import numpy as np


def naive(x: np.ndarray, horizon: int, k: int) -> np.ndarray:
    return np.repeat(x[:, -1:, :k], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, k: int, season: int) -> np.ndarray:
    """Row t + h is forecast as the row one season before it (repeated for h > season)."""
    L = x.shape[1]
    rows = L - season + np.arange(horizon) % season  # (H,)
    return x[:, rows, :k]


def fit_linear(batches, k: int) -> np.ndarray:
    """Least squares from each channel's lookback (plus a bias) to its horizon, all
    channels sharing one map, from (x (B, L, C), y (B, H, K)) batches: the normal
    equations are summed batch by batch in float64, so no array of every window is
    made. Returns weights (L + 1, H)."""
    gram = cross = None
    for x, y in batches:
        inputs = _rows(x[:, :, :k])  # (B*K, L + 1)
        targets = y.transpose(0, 2, 1).reshape(-1, y.shape[1]).astype(np.float64)  # (B*K, H)
        g, c = inputs.T @ inputs, inputs.T @ targets
        gram, cross = (g, c) if gram is None else (gram + g, cross + c)
    return np.linalg.lstsq(gram, cross, rcond=None)[0]


def _rows(x: np.ndarray) -> np.ndarray:
    """x (B, L, K) -> one row per window and channel, with a bias column: (B*K, L + 1)."""
    B, L, K = x.shape
    flat = x.transpose(0, 2, 1).reshape(B * K, L).astype(np.float64)
    return np.concatenate([flat, np.ones((B * K, 1))], 1)


def apply_linear(weights: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    out = _rows(x[:, :, :k]) @ weights  # (B*K, H)
    return out.reshape(x.shape[0], k, -1).transpose(0, 2, 1)


def baseline_scores(batches, season: int, train_batches=None) -> dict:
    """{"naive", "seasonal_naive"[, "linear"]: {"mse", "mae"}} on standardised values over
    every window that `batches()` yields as (x (B, L, C), y (B, H, K)) numpy batches; the
    linear map is fitted on `train_batches()` when given."""
    k = next(iter(batches()))[1].shape[2]
    weights = fit_linear(train_batches(), k) if train_batches is not None else None
    sums, count = {}, 0
    for x, y in batches():
        forecasts = {"naive": naive(x, y.shape[1], k)}
        if season <= x.shape[1]:
            forecasts["seasonal_naive"] = seasonal_naive(x, y.shape[1], k, season)
        if weights is not None:
            forecasts["linear"] = apply_linear(weights, x, k)
        for name, f in forecasts.items():
            err = sums.setdefault(name, [0.0, 0.0])
            err[0] += float(((f - y) ** 2).sum())
            err[1] += float(np.abs(f - y).sum())
        count += y.size
    return {name: {"mse": sq / count, "mae": ab / count} for name, (sq, ab) in sums.items()}
