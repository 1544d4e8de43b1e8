"""Writes hourly_load.csv, the bundled series of recipes/timeseries.py (see README.md here).

26 weeks of hourly rows from 2025-01-06 00:00, t = 0, 1, ...:
    temperature_t = 8 + 6 sin(2 pi t / 4368) - 4 cos(2 pi t / 24) + e_t,  e ~ N(0, 0.8^2)
    load_t = 60 + 12 max(0, sin(2 pi (t - 6) / 24)) + 5 sin(2 pi (t - 30) / 168)
             - 0.6 temperature_t + u_t,    u_t = 0.85 u_{t-1} + N(0, 1.5^2)
numpy's default_rng(2026) draws e and then u; values are rounded to 2 decimals.
"""
from pathlib import Path

import numpy as np

ROWS = 26 * 7 * 24


def make(rows: int = ROWS, seed: int = 2026):
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    temperature = 8 + 6 * np.sin(2 * np.pi * t / ROWS) - 4 * np.cos(2 * np.pi * t / 24) \
        + rng.normal(0, 0.8, rows)
    shocks, u = rng.normal(0, 1.5, rows), np.zeros(rows)
    for i in range(1, rows):
        u[i] = 0.85 * u[i - 1] + shocks[i]
    load = 60 + 12 * np.maximum(0, np.sin(2 * np.pi * (t - 6) / 24)) \
        + 5 * np.sin(2 * np.pi * (t - 30) / 168) - 0.6 * temperature + u
    return t, load, temperature


if __name__ == "__main__":
    t, load, temperature = make()
    start = np.datetime64("2025-01-06T00:00")
    lines = ["time,load,temperature"] + [
        f"{str(start + np.timedelta64(int(i), 'h')).replace('T', ' ')},{a:.2f},{b:.2f}"
        for i, a, b in zip(t, load, temperature)]
    (Path(__file__).parent / "hourly_load.csv").write_text("\n".join(lines) + "\n")
