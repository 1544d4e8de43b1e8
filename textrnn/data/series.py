"""Numeric series as a source: a table's columns as a (rows, channels) array, checked
(numeric, no gaps unless filled, time in order), cut chronologically into splits, scaled
per channel on training rows, and read as sliding windows that are views, never copies.

Shapes: N rows, C channels (the targets first, then the extra features), L lookback rows
in a window's input, H horizon rows after them as its target.
"""
import json
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataError, setting_name
from .tables import TABLES, load_table

log = logging.getLogger("textrnn")
TIME_COLUMNS = ("date", "time", "timestamp", "datetime", "ds")
FILLS = ("ffill", "interpolate", "drop")


@dataclass
class Series:
    values: np.ndarray          # (N, C) float64, in the data's own units
    columns: list               # C names: the targets, then the features
    targets: int = 1            # how many of the columns are targets
    times: object = None        # a pandas DatetimeIndex of N rows, or None
    time_column: str | None = None


def read_frame(source, split: str = "train", config: str | None = None):
    """A pandas DataFrame from a csv/tsv/jsonl/parquet file, a Hub-layout folder or a Hub id;
    a frame passed in is used as it is."""
    if hasattr(source, "columns"):
        return source
    frame = load_table(str(source), split, config, reads=f"a series as {TABLES} or a Hub dataset id").to_pandas()
    if len(frame) == 0:
        raise DataError(f"{source} has no rows; pass a file with data")
    return frame


def pick_time_column(frame, wanted: str | None) -> str | None:
    if wanted is not None:
        if wanted not in frame.columns:
            raise DataError(f"no time column {wanted!r}; columns found: {_names(frame)}")
        return wanted
    return next((c for c in frame.columns if str(c).lower() in TIME_COLUMNS), None)


def pick_columns(frame, targets, features, time_column) -> list:
    """The channels: `targets` (or every column but the time, for ["all"]), then `features`
    (["all"]: every other column)."""
    others = [c for c in frame.columns if c != time_column]
    if not targets:
        raise DataError(f"no target column; pass {setting_name('target')} COL [COL...] or "
                        f"{setting_name('target', 'all')}; columns found: {_names(frame)}")
    targets = _targets(frame, targets, time_column)
    features = [c for c in others if c not in targets] if list(features) == ["all"] else list(features)
    chosen = targets + [c for c in features if c not in targets]
    missing = [c for c in chosen if c not in frame.columns]
    if missing:
        raise DataError(f"no column {', '.join(map(repr, missing))}; columns found: {_names(frame)}")
    if time_column in chosen:
        raise DataError(f"{time_column!r} is the time column; it cannot be a target or feature")
    return chosen


def _targets(frame, targets, time_column) -> list:
    if list(targets) == ["all"]:
        return [c for c in frame.columns if c != time_column]
    return list(dict.fromkeys(targets))


def numeric_values(frame, columns, where: str) -> np.ndarray:
    """(N, C) float64 of `columns`, NaN where a cell is empty; text cells are refused."""
    import pandas as pd

    out = np.empty((len(frame), len(columns)))
    for j, name in enumerate(columns):
        raw = frame[name]
        col = pd.to_numeric(raw, errors="coerce")
        text = col.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if text.any():
            row = int(np.flatnonzero(text.to_numpy())[0])
            raise DataError(f"{where}: column {name!r} is not numeric (data row {row + 1} holds "
                            f"{str(raw.iloc[row])[:40]!r}); numeric columns found: "
                            f"{', '.join(_numeric_columns(frame)) or 'none'}")
        out[:, j] = col.to_numpy(dtype=float)
    out[~np.isfinite(out)] = np.nan
    return out


def fill_gaps(values: np.ndarray, columns, fill: str | None, where: str) -> np.ndarray:
    """`values` with its NaN cells filled (ffill, interpolate) or refused; "drop" is the
    caller's, since it removes rows (and their timestamps)."""
    gaps = np.isnan(values)
    if not gaps.any():
        return values
    if fill not in ("ffill", "interpolate"):
        col = int(np.flatnonzero(gaps.any(0))[0])
        rows = np.flatnonzero(gaps[:, col])
        raise DataError(f"{where}: {int(gaps.sum())} empty or NaN cells (column {columns[col]!r} "
                        f"has {len(rows)}, first at data row {rows[0] + 1}); pass "
                        f"{setting_name('fill', 'ffill|interpolate|drop')} to fill them, or clean the file")
    import pandas as pd

    frame = pd.DataFrame(values)
    frame = frame.ffill() if fill == "ffill" else frame.interpolate(limit_direction="both")
    values = frame.bfill().to_numpy()  # leading gaps take the first value seen
    if np.isnan(values).any():
        raise DataError(f"{where}: a column has no numbers at all; drop it from {setting_name('target')}"
                        f"/{setting_name('features')}")
    return values


def to_times(values, where: str, column: str):
    """Timestamps read value by value: ISO 8601 in any of its spellings (a space or a "T",
    with or without seconds, fractions or a UTC offset), else pandas' guess of the format,
    else whatever pandas makes of each value. Values that carry UTC offsets (local time
    across a daylight-saving change: +01:00, then +02:00) are read in UTC; the log says so."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):  # already timestamps (a parquet column)
        return pd.to_datetime(values)
    text = values.astype(str)
    times = _first_reading(text)
    if times is None:  # offsets that differ from row to row: each an instant, read in UTC
        times = _first_reading(text, utc=True)
    if times.dt.tz is not None:
        log.info("%s: time column %r carries UTC offsets; it is read in UTC", where, column)
        times = times.dt.tz_convert("UTC")
    return times


def _first_reading(text, **utc):
    """The first of ISO 8601, pandas' guess and value-by-value parsing that reads every
    value (else the last that read at all, its failures NaT); None if each refused the
    column (offsets that differ, read without utc=True)."""
    import pandas as pd

    times = None
    for fmt in ("ISO8601", None, "mixed"):
        try:
            times = pd.to_datetime(text, errors="coerce", format=fmt, **utc)
        except ValueError:
            continue
        if not times.isna().any():
            break
    return times


def parse_times(frame, column: str, where: str):
    """The time column as a DatetimeIndex, refused unless strictly increasing."""
    import pandas as pd

    times = to_times(frame[column], where, column)
    bad = np.flatnonzero(times.isna().to_numpy())
    if len(bad):
        raise DataError(f"{where}: time column {column!r} has {len(bad)} cells that are not dates "
                        f"(first at data row {bad[0] + 1}: {str(frame[column].iloc[bad[0]])[:40]!r})")
    index = pd.DatetimeIndex(times)
    t = index.asi8  # nanoseconds since 1970 (in UTC where the times carry offsets)
    step = np.diff(t)
    if len(step) and (step <= 0).any():
        i = int(np.flatnonzero(step <= 0)[0])
        what = "repeat" if t[i + 1] == t[i] else "go backwards"
        raise DataError(f"{where}: timestamps {what} at data row {i + 2} ({times.iloc[i + 1]} after "
                        f"{times.iloc[i]}); sort the file by {column!r} and remove duplicate rows")
    return index


# The strftime formats from the coarsest resolution to the finest, each with the
# nanoseconds that one of its units spans: a timestamp or a step between two that is not a
# whole number of them needs a finer format.
RESOLUTIONS = (("%Y-%m-%d", 86_400 * 10**9), ("%Y-%m-%d %H:%M", 60 * 10**9),
               ("%Y-%m-%d %H:%M:%S", 10**9), ("%Y-%m-%d %H:%M:%S.%f", 1))


def time_format(times) -> str:
    """The strftime format that shows `times` (timestamps, one or more) to the data's
    resolution: the date alone only when every timestamp and every step between them is
    whole days; hourly rows keep their hours even where all those shown fall at midnight,
    as long as `times` holds two rows or one off midnight (pass the rows they follow too).
    pandas prints midnight-only columns as dates, hence this."""
    import pandas as pd

    index = pd.DatetimeIndex(times)
    aware = index.tz is not None
    if aware:  # the wall-clock time, not UTC's, decides what a unit is
        index = index.tz_localize(None)
    ns = index.as_unit("ns").asi8  # nanoseconds since 1970, (N,): pandas may keep s or us
    points = np.concatenate([ns, np.diff(ns)])
    fmt = next(f for f, unit in RESOLUTIONS if not (points % unit).any())
    return fmt + (" %z" if aware else "")


def load_series(source, targets, features=(), time_column=None, fill=None, split="train",
                config=None) -> Series:
    """Read, select and check a series from any table source (see `read_frame`)."""
    where = "the data" if hasattr(source, "columns") else str(source)
    frame = read_frame(source, split, config)
    time_column = pick_time_column(frame, time_column)
    columns = pick_columns(frame, targets, features, time_column)
    times = parse_times(frame, time_column, where) if time_column else None
    values = numeric_values(frame, columns, where)
    if fill == "drop":
        keep = ~np.isnan(values).any(1)
        values, times = values[keep], None if times is None else times[keep]
        if not len(values):
            raise DataError(f"{where}: every row has an empty cell; nothing is left after "
                            f"{setting_name('fill', 'drop')}")
    n_targets = len(_targets(frame, targets, time_column))  # the columns start with them
    return Series(fill_gaps(values, columns, fill, where), columns, n_targets, times, time_column)


def _numeric_columns(frame) -> list:
    import pandas as pd
    return [str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]


def _names(frame) -> str:
    return ", ".join(map(str, frame.columns))


def split_rows(n: int, spec: str, lookback: int, horizon: int, parts: int = 3) -> list[tuple[int, int]]:
    """Chronological (start, end) row ranges of train, validation [and test], from fractions
    ("0.7,0.1,0.2") or row counts ("8640,2880,2880"). Validation and test start `lookback`
    rows before their first target, as the standard protocol does (Zhou et al. 2021).
    `parts`: how many of the splits the rows hold (2: the test rows come from elsewhere,
    and train and validation share all the rows in their proportion; 1: all are training)."""
    sizes = _split_sizes(n, spec, parts)
    ranges, start = [], 0
    for i, size in enumerate(sizes):
        first = start if i == 0 else max(start - lookback, 0)
        ranges.append((first, start + size))
        start += size
    names = ("training", "validation", "test")
    for (a, b), name in zip(ranges, names):
        if b - a < lookback + horizon:
            raise DataError(f"the {name} split has {b - a} rows, but a window needs lookback + "
                            f"horizon = {lookback + horizon}; use a longer series, lower "
                            f"{setting_name('lookback')} or {setting_name('horizon')}, or change "
                            f"{setting_name('split_fractions')}")
    return ranges


def training_rows(n: int, spec: str, parts: int = 3) -> int:
    """How many rows, from the first, the training split holds: the scaler's rows."""
    return _split_sizes(n, spec, parts)[0]


def split_spec(spec) -> list[float] | None:
    """The numbers of a split given as fractions or row counts ("0.7,0.1,0.2"), or None if it
    is not one (a dataset's split name, say)."""
    try:
        parts = [float(p) for p in str(spec).split(",")]
    except ValueError:
        return None
    ok = len(parts) in (2, 3) and all(math.isfinite(p) and p >= 0 for p in parts)
    return parts if ok else None


def _split_sizes(n: int, spec: str, parts: int = 3) -> list[int]:
    given = split_spec(spec)
    if given is None:
        raise DataError(f"{setting_name('split_fractions', spec)} must be 2 or 3 fractions "
                        "(0.7,0.1,0.2) or row counts (8640,2880,2880): train, validation[, test]")
    if parts == 1:
        return [n]
    if parts == 2:
        given = given[:2]
    if all(p <= 1 for p in given) and not all(p == int(p) for p in given):
        if sum(given) > 1 + 1e-9:
            raise DataError(f"{setting_name('split_fractions', spec)}: the fractions add up to more than 1")
        if parts == 2:  # train and validation share every row, in their proportion
            first = int(n * given[0] / sum(given))
            return [first, n - first]
        sizes = [int(n * p) for p in given]
        if abs(sum(given) - 1) < 1e-9:  # all rows are used; rounding's remainder goes to validation
            sizes[1] = n - sizes[0] - sum(sizes[2:])
        return sizes
    sizes = [int(p) for p in given]
    if sum(sizes) > n:
        raise DataError(f"{setting_name('split_fractions', spec)} asks for {sum(sizes)} rows, but the "
                        f"series has {n}")
    return sizes


class Scaler:
    """Per-channel z-score, fitted on training rows only; saved as the run's scaler.json,
    with the channel names and time column that a forecast's input must have."""

    def __init__(self, columns, mean, std, time_column=None, targets=None):
        self.columns, self.time_column = list(columns), time_column
        self.mean, self.std = np.asarray(mean, float), np.asarray(std, float)
        self.targets = len(columns) if targets is None else targets  # the first `targets` channels

    @classmethod
    def fit(cls, values: np.ndarray, columns, time_column=None, targets=None) -> "Scaler":
        std = values.std(0)
        return cls(columns, values.mean(0), np.where(std > 1e-12, std, 1.0), time_column, targets)

    def transform(self, values: np.ndarray) -> np.ndarray:  # (N, C) -> (N, C)
        return (values - self.mean) / self.std

    def inverse(self, values):  # (..., targets) standardised -> the data's units
        return values * self.std[: self.targets] + self.mean[: self.targets]

    def get_vocab_size(self) -> int:
        """The model's input width (what a vocabulary is to a text model)."""
        return len(self.columns)

    def to_str(self, pretty: bool = True) -> str:
        return json.dumps({"columns": self.columns, "targets": self.targets,
                           "mean": self.mean.tolist(), "std": self.std.tolist(),
                           "time_column": self.time_column}, indent=2 if pretty else None)

    @classmethod
    def from_file(cls, path) -> "Scaler":
        from ..errors import CheckpointError
        try:
            d = json.loads(open(path, encoding="utf-8").read())
            c, mean, std = d["columns"], d["mean"], d["std"]
            ok = (isinstance(c, list) and all(isinstance(x, str) for x in c) and len(c) == len(mean)
                  == len(std) and isinstance(d["targets"], int) and 1 <= d["targets"] <= len(c)
                  and all(isinstance(v, (int, float)) and math.isfinite(v) for v in mean + std)
                  and all(v > 0 for v in std))
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise CheckpointError(f"{path} is not a valid scaler file; restore it from the run "
                                  "or retrain")
        return cls(c, mean, std, d.get("time_column"), d["targets"])


def scaled(scaler: "Scaler", values: np.ndarray, where: str, first_row: int = 0) -> torch.Tensor:
    """values (N, C) in the data's units -> their z-scores as a float32 tensor (N, C), what
    the model reads; refused in one line where a value does not fit float32 once scaled
    (1e40, say): the model's forecasts would all be NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = scaler.transform(values).astype(np.float32)
    bad = ~np.isfinite(z)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{where}: row {first_row + r + 1}, column {scaler.columns[c]!r} holds "
                        f"{values[r, c]:g}, beyond what the model reads (float32) once scaled by the "
                        "training data's spread; check the data's units")
    return torch.from_numpy(z)


class Windows:
    """Every (input, target) window of a scaled series, made on the fly from one view.

    values (N, C) -> window i: x = values[i : i+L] (L, C), y = values[i+L : i+L+H, :targets].
    """

    def __init__(self, values: torch.Tensor, lookback: int, horizon: int, targets: int):
        self.L, self.H, self.targets = lookback, horizon, targets
        self.view = values.unfold(0, lookback + horizon, 1)  # (W, C, L+H), no copy

    def __len__(self) -> int:
        return self.view.shape[0]

    def get(self, idx) -> tuple:
        """idx (B,) window numbers -> x (B, L, C), y (B, H, targets)."""
        w = self.view[idx]  # (B, C, L+H): the only copy, one batch's
        return w[:, :, : self.L].transpose(1, 2), w[:, : self.targets, self.L:].transpose(1, 2)
