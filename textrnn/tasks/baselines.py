"""Forecasts that need no training, to read a model's scores against: the naive forecast
(the last value, repeated), the seasonal naive one (the last season, repeated) and one
least-squares linear map from the lookback to the horizon, shared by the channels.

Each takes windows' inputs x (W, L, C) standardised and returns forecasts (W, H, K).
"""
import numpy as np


def naive(x: np.ndarray, horizon: int, k: int) -> np.ndarray:
    return np.repeat(x[:, -1:, :k], horizon, axis=1)


def seasonal_naive(x: np.ndarray, horizon: int, k: int, season: int) -> np.ndarray:
    """Row t + h is forecast as the row one season before it (repeated for h > season)."""
    L = x.shape[1]
    rows = L - season + np.arange(horizon) % season  # (H,)
    return x[:, rows, :k]


def fit_linear(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares from each channel's lookback (plus a bias) to its horizon, all
    channels sharing one map: x (W, L, K), y (W, H, K) -> weights (L + 1, H)."""
    W, L, K = x.shape
    inputs = np.concatenate([x.transpose(0, 2, 1).reshape(W * K, L), np.ones((W * K, 1))], 1)
    targets = y.transpose(0, 2, 1).reshape(W * K, -1)
    return np.linalg.lstsq(inputs, targets, rcond=None)[0]


def apply_linear(weights: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    W, L, _ = x.shape
    flat = x[:, :, :k].transpose(0, 2, 1).reshape(W * k, L)
    out = flat @ weights[:-1] + weights[-1]  # (W*K, H)
    return out.reshape(W, k, -1).transpose(0, 2, 1)


def baseline_scores(x, truth, season: int, train=None) -> dict:
    """{"naive", "seasonal_naive"[, "linear"]: {"mse", "mae"}} on standardised values;
    the linear map is fitted on `train` = (x, y) windows when given."""
    H, K = truth.shape[1], truth.shape[2]
    forecasts = {"naive": naive(x, H, K)}
    if season <= x.shape[1]:
        forecasts["seasonal_naive"] = seasonal_naive(x, H, K, season)
    if train is not None:
        forecasts["linear"] = apply_linear(fit_linear(train[0][:, :, :K], train[1]), x, K)
    return {name: {"mse": float(((f - truth) ** 2).mean()), "mae": float(np.abs(f - truth).mean())}
            for name, f in forecasts.items()}
