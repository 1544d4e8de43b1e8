"""PNG plots of a run: the loss curve, a classifier's confusion matrix and reliability diagram,
a forecast against truth, a translation's attention."""
import json
from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    return plt


def plot_loss_curve(log_path: Path, out_path: Path, unit: str = "nats per token") -> None:
    """Training loss per logged step and validation loss per evaluation; `unit` is what
    one unit of the loss is (a classifier's is per example)."""
    train, val = [], []
    for line in Path(log_path).read_text().splitlines():
        rec = json.loads(line)
        if "loss" in rec:
            train.append((rec["step"], rec["loss"]))
        if "val" in rec and "loss" in rec["val"]:
            val.append((rec["step"], rec["val"]["loss"]))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for points, label in ((train, "train"), (val, "validation")):
        if points:
            ax.plot(*zip(*points), label=label, marker="o" if label == "validation" else None)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss ({unit})")
    ax.grid(alpha=0.3)
    if train or val:  # a run shorter than one logging interval has no point yet
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100, format="png")
    plt.close(fig)


MOST_CLASSES = 30  # a confusion plot of more would be unreadable, and its memory grows as n^2


def confused_classes(matrix, most: int = MOST_CLASSES) -> list[int]:
    """The ids of at most `most` classes, those most often confused (their row's and column's
    off-diagonal counts), in id order; all of them when there are no more than `most`."""
    import numpy as np

    m = np.asarray(matrix)
    if len(m) <= most:
        return list(range(len(m)))
    off = m.sum(0) + m.sum(1) - 2 * np.diag(m)
    order = np.lexsort((-m.sum(1), -off))  # most confused first, then the most frequent
    return sorted(order[:most].tolist())


def plot_confusion_matrix(matrix, names, out_path: Path, title="confusion matrix") -> None:
    """The confusion matrix as a heatmap with counts; past MOST_CLASSES classes, the ones
    most often confused only (metrics.json holds the whole matrix)."""
    keep = confused_classes(matrix)
    if len(keep) < len(names):
        title = f"{title}: the {len(keep)} most confused of {len(names)} classes"
        matrix = [[matrix[i][j] for j in keep] for i in keep]
        names = [names[i] for i in keep]
    _draw_heatmap(matrix, names, out_path, title)


def _draw_heatmap(matrix, names, out_path: Path, title: str) -> None:
    """A square matrix of counts as a heatmap, each cell labelled with its count."""
    plt = _pyplot()
    n = len(names)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * n, 1.0 + 0.6 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = max(max(row) for row in matrix) or 1
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i][j]), ha="center", va="center",
                    color="white" if matrix[i][j] > top / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100, format="png")
    plt.close(fig)


FEW = 12  # points: a line with no more than these gets a marker on each, so that it shows
SHOWN_CHANNELS = 4  # panels of a forecast plot: more would be unreadable


def forecast_figure(history, forecast, truth, names, times=None, block=None,
                    unit="original units", title=None):
    """A figure of one panel per target (the first four): `history` (L, K), the rows the
    first forecast reads; `forecast` (N, K) and, if given, `truth` (N, K), the N rows after
    them. `block` rows per forecast (default: all N from one history): N / block forecasts,
    each from the true rows before it, drawn as separate lines. `times` labels the L + N
    rows (ticks at the data's resolution), else rows are numbered from the first forecast
    row. A forecast of one step, or a line of few points, gets markers, since a line
    of one point draws nothing."""
    import numpy as np

    plt = _pyplot()
    L, N = len(history), len(forecast)
    block = block or N
    shown = min(len(names), SHOWN_CHANNELS)
    fig, axes = plt.subplots(shown, 1, figsize=(9, 2.4 * shown + 1.0), squeeze=False, sharex=True)
    x = _forecast_x(times, L, N)  # (L + N,)
    past, future = x[:L], x[L:]
    for k, ax in enumerate(axes[:, 0]):
        _line(ax, past, np.asarray(history)[:, k], "0.45", "history")
        if truth is not None:
            _line(ax, future, np.asarray(truth)[:, k], "tab:blue", "truth")
        fx, fy = _blocks(future, np.asarray(forecast)[:, k], block)
        ax.plot(fx, fy, color="tab:orange", lw=1.6, label=_forecast_label(N, block),
                marker="o" if block == 1 or N <= FEW else None, markersize=6 if N <= 3 else 3.5)
        ax.axvline(future[0], color="0.6", ls=":", lw=1)  # where forecasting starts
        ax.set_ylabel(f"{names[k]}\n({unit})")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="lower left", bbox_to_anchor=(0, 1), ncol=3, fontsize="small",
                      frameon=False)  # above the panel: a legend inside would hide the lines
    _time_axis(fig, axes[-1, 0], x)
    if title:
        fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


def plot_forecast(history, forecast, truth, names, out_path: Path, times=None, block=None,
                  unit="original units", title=None) -> None:
    """`forecast_figure` saved as a PNG."""
    plt = _pyplot()
    fig = forecast_figure(history, forecast, truth, names, times, block, unit, title)
    fig.savefig(out_path, dpi=100, format="png")
    plt.close(fig)


def _forecast_x(times, L: int, N: int):
    """The x of each of the L + N rows: their timestamps, else -L .. N - 1 (0: the first
    forecast row)."""
    import numpy as np
    import pandas as pd

    if times is not None and len(times) >= L + N:
        stamps = pd.DatetimeIndex(times[:L + N])
        if stamps.tz is not None:  # in UTC, as the series was read; naive, so the axis reads them as dates
            stamps = stamps.tz_convert("UTC").tz_localize(None)
        return stamps.to_numpy()
    return np.arange(-L, N)


def _line(ax, x, y, colour, label) -> None:
    """A series as a line, with markers when it has few points."""
    ax.plot(x, y, color=colour, lw=1.4, label=label,
            marker="o" if len(y) <= FEW else None, markersize=3)


def _blocks(x, y, block: int):
    """Forecasts of `block` rows each as one line with a gap (NaN) between blocks: each
    starts again from the truth, so joining them would draw a step no model made. One-step
    forecasts stay joined: each point is its own forecast, and markers show them."""
    import numpy as np

    if block <= 1 or block >= len(y):
        return x, y
    xs, ys = [x[:block]], [y[:block]]
    for i in range(block, len(y), block):
        xs += [x[i - 1:i], x[i:i + block]]  # the gap sits at the row before the block
        ys += [[np.nan], y[i:i + block]]
    return np.concatenate(xs), np.concatenate(ys)


def _forecast_label(n: int, block: int) -> str:
    if block >= n:
        return f"forecast ({n} row{'s' * (n > 1)})"
    if block == 1:
        return f"one-step forecasts ({n}, each from the truth before it)"
    return f"forecasts ({n // block} of {block} rows, each from the truth before it)"


def _time_axis(fig, ax, x) -> None:
    """Ticks as timestamps at the data's resolution (x of timestamps), or row numbers."""
    import numpy as np

    if not np.issubdtype(x.dtype, np.datetime64):
        ax.set_xlabel("row (0: the first forecast row)")
        return
    import matplotlib.dates as mdates

    from .data.series import time_format

    ax.xaxis.set_major_formatter(mdates.DateFormatter(time_format(x)))
    ax.set_xlabel("time")
    fig.autofmt_xdate()


def plot_attention(source: list[str], target: list[str], weights, out_path: Path) -> None:
    """A translation's attention as a heatmap: a row per target token, a column per source
    token; weights (T, S), each row summing to one."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.5 + 0.4 * len(source), 1.2 + 0.35 * len(target)))
    ax.imshow(weights, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=60, ha="right")
    ax.set_yticks(range(len(target)), target)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100, format="png")
    plt.close(fig)


def plot_reliability(curves: dict, out_path: Path, title: str = "reliability") -> None:
    """A reliability diagram: accuracy against mean confidence per confidence bin, one line
    per curve (e.g. {"raw (ECE 0.041)": bins, "temperature 1.31 (ECE 0.012)": bins}, bins as
    calibration.reliability gives them), beside the diagonal of perfect calibration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    for label, bins in curves.items():
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean confidence (top label)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100, format="png")
    plt.close(fig)
