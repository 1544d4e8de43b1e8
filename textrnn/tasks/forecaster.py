"""A trained forecaster: forecasts in the data's own units, scores on a file, plots.

Shapes: W windows, L lookback, H horizon, C input channels (targets first), K targets.
"""
import numpy as np
import torch

from ..data.series import Windows, load_series, read_frame, scaled, time_format
from ..device import autocast
from ..errors import DataError
from ..models import evaluating
from ..outputs import write_output
from ..plots import plot_forecast
from ..world import World
from .base import LoadedRun, one_source

BATCH = 512  # windows per evaluation batch, unless told otherwise


@torch.no_grad()
def predict_windows(model, x: torch.Tensor, device, precision="fp32", batch_size=BATCH) -> np.ndarray:
    """x (W, L, C) standardised -> forecasts (W, H, K), standardised, float32."""
    out = []
    with evaluating(model):
        for i in range(0, len(x), batch_size):
            with autocast(device, precision):
                out.append(model(x[i:i + batch_size].to(device)).float().cpu())
    return torch.cat(out).numpy()


def window_batches(windows: Windows, batch_size=BATCH):
    """Every window, in order, as (x (B, L, C) tensor, y (B, H, K) tensor): one batch is
    copied at a time, never an array of every window."""
    for i in range(0, len(windows), batch_size):
        yield windows.get(torch.arange(i, min(i + batch_size, len(windows))))


def numpy_batches(windows: Windows, batch_size=BATCH):
    """window_batches as a callable giving numpy batches (what the baselines read)."""
    return lambda: ((x.numpy(), y.numpy()) for x, y in window_batches(windows, batch_size))


def predict_all(model, windows: Windows, device, precision="fp32", world=World(), batch_size=BATCH):
    """Forecasts and truths of every window, (W, H, K) each, standardised. Under torchrun
    each rank predicts a share of the batches, and every rank gets every forecast."""
    starts = range(0, len(windows), batch_size)
    mine = []
    for i in starts[world.share(len(starts))]:
        x, y = windows.get(torch.arange(i, min(i + batch_size, len(windows))))
        mine.append((predict_windows(model, x, device, precision, batch_size), y.numpy()))
    parts = [part for rank in world.gather(mine) for part in rank]
    return np.concatenate([p for p, _ in parts]), np.concatenate([t for _, t in parts])


def score_windows(model, windows: Windows, scaler, device, precision="fp32", full=False,
                  world=World(), batch_size=BATCH) -> dict:
    """MSE and MAE (scikit-learn) over every window, on standardised values and in the
    data's units; `full` adds them per channel and per horizon step."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error

    pred, truth = predict_all(model, windows, device, precision, world, batch_size)  # (W, H, K) each
    real_p, real_t = scaler.inverse(pred), scaler.inverse(truth)
    flat = lambda a: a.reshape(-1)
    mse = float(mean_squared_error(flat(truth), flat(pred)))
    m = {"mse": mse, "mae": float(mean_absolute_error(flat(truth), flat(pred))),
         "mse_original": float(mean_squared_error(flat(real_t), flat(real_p))),
         "mae_original": float(mean_absolute_error(flat(real_t), flat(real_p))), "windows": len(pred)}
    m["loss"] = m[model.cfg.head.loss]  # what training minimises, for the loss curve
    if full:
        names = scaler.columns[: scaler.targets]
        m["per_channel"] = {
            name: {"mse": float(mean_squared_error(flat(truth[..., k]), flat(pred[..., k]))),
                   "mae": float(mean_absolute_error(flat(truth[..., k]), flat(pred[..., k]))),
                   "mse_original": float(mean_squared_error(flat(real_t[..., k]), flat(real_p[..., k]))),
                   "mae_original": float(mean_absolute_error(flat(real_t[..., k]), flat(real_p[..., k])))}
            for k, name in enumerate(names)}
        err = pred - truth
        m["per_step"] = {"mse": (err ** 2).mean((0, 2)).tolist(), "mae": np.abs(err).mean((0, 2)).tolist()}
    return m


SHOWN = 168  # rows of the test period drawn, at most: a week of hourly rows


def forecasts_by_block(model, values: torch.Tensor, device, shown: int = SHOWN):
    """The last rows of `values` (N, C) standardised, forecast block after block: each block
    of H rows from the L true rows before it, as many blocks as fit in `shown` rows (at
    least one). Returns the first forecast row and the forecasts (blocks * H, K), standardised."""
    L, H = model.cfg.head.lookback, model.cfg.head.horizon
    blocks = max(1, min(shown // H, (len(values) - L) // H))
    first = len(values) - blocks * H
    x = torch.stack([values[s - L:s] for s in range(first, len(values), H)])  # (blocks, L, C)
    pred = predict_windows(model, x, device)  # (blocks, H, K)
    return first, pred.reshape(blocks * H, -1)


def plot_test_period(model, values: torch.Tensor, scaler, path, times, device) -> None:
    """forecast.png: the end of the test split `values` (N, C) standardised, in the data's
    units: the truth and the model's forecasts of it, one horizon at a time (a one-step
    model forecasts each row from the rows before it)."""
    L, H, k = model.cfg.head.lookback, model.cfg.head.horizon, scaler.targets
    first, pred = forecasts_by_block(model, values, device)
    real = values.numpy() * scaler.std + scaler.mean  # (N, C)
    n, before = len(values) - first, min(L, max(H, SHOWN // 4))  # a long lookback would crowd the truth
    title = (f"test split, its last {n} rows: forecast {H} row{'s' * (H > 1)} at a time, "
             f"each from the {L} true rows before")
    plot_forecast(real[first - before:first, :k], scaler.inverse(pred), real[first:, :k],
                  scaler.columns[:k], path, None if times is None else times[first - before:],
                  block=H, title=title)


def future_times(times, n: int):
    """The n timestamps after `times` (a DatetimeIndex), one step of its last apart."""
    import pandas as pd

    step = times[-1] - times[-2] if len(times) > 1 else pd.Timedelta(0)
    return pd.DatetimeIndex([times[-1] + step * (i + 1) for i in range(n)])


def describe(m: dict) -> str:
    lines = [f"MSE {m['mse']:.4f}  MAE {m['mae']:.4f} (standardised); MSE {m['mse_original']:.4g}  "
             f"MAE {m['mae_original']:.4g} (original units); {m['windows']} windows"]
    for name, c in m.get("per_channel", {}).items():
        lines.append(f"  {name}: MSE {c['mse']:.4f}  MAE {c['mae']:.4f}  |  original MSE "
                     f"{c['mse_original']:.4g}  MAE {c['mae_original']:.4g}")
    for name, b in m.get("baselines", {}).items():
        lines.append(f"  baseline {name}: MSE {b['mse']:.4f}  MAE {b['mae']:.4f}")
    steps = m.get("per_step")
    if steps:
        show = sorted({0, len(steps["mse"]) // 2, len(steps["mse"]) - 1})
        lines.append("  by horizon step: " + ", ".join(
            f"t+{i + 1} MSE {steps['mse'][i]:.4f}" for i in show))
    return "\n".join(lines)


class Forecaster(LoadedRun):
    """A trained forecaster with its scaler (the run's scaler.json)."""
    noun = "forecaster"
    describe = staticmethod(describe)

    @property
    def scaler(self):
        return self.tokenizer  # a forecaster's data encoding is its scaler

    @property
    def lookback(self) -> int:
        return self.config.head.lookback

    @property
    def horizon(self) -> int:
        return self.config.head.horizon

    @property
    def targets(self) -> list:
        return list(self.config.head.targets)

    def _recent(self, data, fill):
        """The last lookback rows: (L, C) values in the data's units, their z-scores (the
        model's input) and the frame's timestamps (or None)."""
        columns, need, k = self.scaler.columns, self.lookback, len(self.targets)
        if isinstance(data, (np.ndarray, torch.Tensor)):
            values = np.asarray(data, dtype=float)
            if values.ndim == 1 and len(columns) == 1:
                values = values[:, None]
            if values.ndim != 2 or values.shape[1] != len(columns):
                raise DataError(f"the input has shape {values.shape}; this forecaster reads "
                                f"(rows, {len(columns)}): columns {', '.join(columns)}")
            times = None
        else:
            frame = read_frame(data)
            tc = self.scaler.time_column
            series = load_series(frame, columns[:k], columns[k:], tc if tc in frame.columns else None, fill)
            values, times = series.values, series.times
        if len(values) < need:
            raise DataError(f"the input has {len(values)} rows; a forecast reads the last "
                            f"{need} (the lookback); pass at least {need} rows")
        x = scaled(self.scaler, values[-need:], "the input", len(values) - need)  # (L, C)
        return values[-need:], x, None if times is None else times[-need:]

    def _next(self, data, fill):
        """(the last lookback rows (L, C), the forecast (H, K) in the data's units, the L + H
        rows' timestamps or None)."""
        values, x, times = self._recent(data, fill)
        pred = self._predict(x)
        if times is not None:
            times = times.append(future_times(times, len(pred)))
        return values, pred, times

    def forecast(self, data, fill=None):
        """The next `horizon` rows of the targets after the last `lookback` rows of `data`:
        a DataFrame (with future timestamps, when the data has them) for a table or a
        path, an array (H, K) for an array (rows, C)."""
        _, pred, times = self._next(data, fill)
        if isinstance(data, (np.ndarray, torch.Tensor)):
            return pred
        return self._frame(pred, None if times is None else times[-len(pred):])

    def forecast_table(self, data, fill=None):
        """`forecast` as `textrnn forecast` prints and writes it: a DataFrame whose
        timestamps are text at the data's resolution (pandas would print an hourly forecast
        that falls at midnight as a bare date)."""
        _, pred, times = self._next(data, fill)
        if times is None:
            return self._frame(pred, None)
        # the format from the rows read too: they show the resolution
        return self._frame(pred, times[-len(pred):].strftime(time_format(times)))

    def _frame(self, pred, times):
        """The forecast (H, K) as a DataFrame, after a column of its timestamps (H,) when
        the data has them."""
        import pandas as pd

        frame = pd.DataFrame(pred, columns=self.targets)
        if times is not None:
            frame.insert(0, self.scaler.time_column, times)
        return frame

    def _predict(self, x):
        """x (L, C) scaled rows -> the forecast (H, K) in the data's units."""
        return self.scaler.inverse(predict_windows(self.model, x.unsqueeze(0), self.device)[0])

    def info(self) -> dict:
        return {"columns": list(self.scaler.columns), "targets": self.targets,
                "lookback": self.lookback, "horizon": self.horizon}

    def evaluate(self, source, fill=None, split="train", data_config=None, batch_size=BATCH) -> dict:
        """MSE and MAE over every window of a series file or Hub dataset, standardised and
        in original units, per channel and per horizon step."""
        k = len(self.targets)
        series = load_series(source, self.scaler.columns[:k], self.scaler.columns[k:],
                             self.scaler.time_column, fill, split, data_config)
        if len(series.values) < self.lookback + self.horizon:
            raise DataError(f"{source} has {len(series.values)} rows; scoring needs at least "
                            f"lookback + horizon = {self.lookback + self.horizon}")
        values = scaled(self.scaler, series.values, str(source))
        windows = Windows(values, self.lookback, self.horizon, k)
        return score_windows(self.model, windows, self.scaler, self.device, full=True,
                             batch_size=batch_size)

    def evaluate_source(self, sources, settings, progress=False, batch_size=None) -> dict:
        """`textrnn evaluate`: MSE and MAE over every window of the source."""
        return self.evaluate(one_source(sources, "a forecaster"), settings.fill, settings.split,
                             batch_size=batch_size or BATCH)

    def plot(self, data, path, truth=None, fill=None) -> None:
        """A PNG of the last lookback rows of `data`, the forecast, and `truth` (H, K) if given,
        in the data's units, with the data's timestamps when it has them; never over a
        run's own file (outputs.py)."""
        values, pred, times = self._next(data, fill)
        k = len(self.targets)
        rows = f"{len(pred)} rows" if len(pred) > 1 else "row"
        title = f"forecast of the {rows} after the data, from its last {self.lookback}"
        write_output(path, lambda tmp: plot_forecast(values[:, :k], pred, truth, self.targets, tmp,
                                                     times, title=title), "plot")
