"""PNG plots of a run: the loss curve, a classifier's confusion matrix, a forecast against truth,
a translation's attention."""
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


def plot_forecast(history, forecast, truth, names, out_path: Path, times=None) -> None:
    """History (L, K), forecast (H, K) and, if given, truth (H, K), one panel per channel
    (the first four); `times` labels the L + H rows, else they are numbered."""
    import numpy as np

    plt = _pyplot()
    L, H = len(history), len(forecast)
    shown = min(len(names), 4)
    fig, axes = plt.subplots(shown, 1, figsize=(8, 2.2 * shown + 0.6), squeeze=False)
    t = np.asarray(times) if times is not None and len(times) >= L + H else None
    past, future = (t[:L], t[L:L + H]) if t is not None else (np.arange(L), np.arange(L, L + H))
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(past, history[:, k], color="0.4", label="history")
        if truth is not None:
            ax.plot(future, np.asarray(truth)[:, k], color="tab:blue", label="truth")
        ax.plot(future, forecast[:, k], color="tab:orange", label="forecast")
        ax.set_ylabel(str(names[k]))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(out_path, dpi=100, format="png")
    plt.close(fig)


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
