"""Numeric forecasting: the lookback rows of a series in, the next horizon rows of its
target channels out. Splits are chronological, the z-score is fitted on training rows and
saved as scaler.json, and windows are views made batch by batch.

Shapes: B windows, L lookback, H horizon, C input channels (targets first), K targets.
"""
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..config import ModelConfig
from ..data.bundled import SAMPLE_DATA
from ..data.series import (FILLS, Scaler, Series, Windows, load_series, read_frame, scaled, split_rows,
                           split_spec, training_rows)
from ..encodings import SCALER
from ..errors import ConfigError, DataError, setting_name
from ..outputs import check_output, write_output
from ..models.forecasters import FORECASTERS, LOSSES
from ..settings import OLD_UNTIL, OldFlag, setting
from ..world import current
from .base import Endpoint, Task
from .baselines import baseline_scores
from .forecaster import BATCH, Forecaster, numpy_batches, plot_test_period, score_windows

log = logging.getLogger("textrnn")
LIMIT = 1_000_000  # rows: the largest lookback or horizon accepted (a typo guard)


@dataclass
class SeriesDataConfig:
    """Where a series comes from and how it is cut."""
    data: str = setting("", "the series: csv/tsv/jsonl/parquet, or a Hugging Face Hub dataset id")
    val_data: str | None = setting(None, "a validation series with the same columns (default: "
                                   "the validation part of --split-fractions)")
    test_data: str | None = setting(None, "a test series with the same columns, scored after "
                                    "training (default: the test part of --split-fractions)")
    target: list = setting([], "column(s) to forecast, or 'all' (every column but the time)",
                           nargs="+", metavar="COL")
    features: list = setting([], "extra input columns, or 'all' (stacked model only)",
                             nargs="+", metavar="COL")
    time_column: str | None = setting(None, "timestamps, checked to increase (default: a column "
                                      "named date, time, timestamp, datetime or ds)")
    split_fractions: str = setting("0.7,0.1,0.2", "chronological train,validation[,test] of --data: "
                                   "fractions, or row counts (ETT: 8640,2880,2880); with "
                                   "--val-data all of --data trains, with --test-data train and "
                                   "validation share it")
    season: int = setting(24, "rows per season, for the seasonal-naive baseline (hourly data: 24)",
                          low=1, high=LIMIT)
    fill: str | None = setting(None, "fill empty cells: ffill, interpolate or drop (default: refuse)",
                               choices=FILLS)
    split: str = setting("train", "dataset split of --data for Hub ids")
    val_split: str = setting("validation", "dataset split of --val-data for Hub ids")
    test_split: str = setting("test", "dataset split of --test-data for Hub ids")
    data_config: str | None = setting(None, "dataset configuration name for Hub ids")

    OLD_FLAGS = {"--data-split": OldFlag(("split",), "--split")}

    def __post_init__(self):
        # Before 0.3 `--split` held the chronological fractions: a value that reads as
        # fractions or row counts is still taken so, and says its new name once.
        if split_spec(self.split) is not None:
            log.warning("--split %s is now --split-fractions %s (--split names a Hub split; the "
                        "old spelling works until textrnn %s)", self.split, self.split, OLD_UNTIL)
            self.split_fractions, self.split = self.split, "train"

    def parts(self) -> int:
        """How many splits --data holds: 3 (train, validation, test), 2 or 1."""
        return 1 if self.val_data else (2 if self.test_data else 3)


@dataclass
class ForecastHeadConfig:
    model: str = setting("segrnn", "stacked (the founding document's regressor) or segrnn "
                         "(Lin et al. 2023)", choices=tuple(FORECASTERS))
    lookback: int = setting(96, "rows each forecast reads", low=1, high=LIMIT)
    horizon: int = setting(96, "rows each forecast predicts", low=1, high=LIMIT)
    decoding: str = setting("direct", "stacked model: all rows at once (direct) or one at a "
                            "time, fed back (recurrent)", choices=("direct", "recurrent"))
    seg_len: int = setting(24, "segrnn: rows per segment; must divide --lookback", low=1, high=LIMIT)
    revin: bool = setting(True, "reversible instance normalisation (Kim et al. 2022)")
    revin_last: bool = setting(False, "RevIN centres each window on its last row (off: on its mean)")
    revin_scale: bool = setting(True, "RevIN divides each window by its spread (off: only centres "
                                "it; with --revin-last, SegRNN's own normalisation)")
    loss: str = setting("mae", "training loss (the best epoch is still picked by validation MSE)",
                        choices=tuple(LOSSES))
    inputs: list = setting([], "input channel names (targets first)", cli=False)
    targets: list = setting([], "forecast channel names", cli=False)


@dataclass
class ForecastSettings:
    """`textrnn forecast`: the next horizon rows after the last lookback rows of --data."""
    data: str | None = setting(None, "recent rows with the run's columns (at least its "
                               "lookback): csv/tsv/jsonl/parquet or a Hub id", required=True)
    output: str | None = setting(None, "write the forecast here as CSV (default: print it)")
    plot: str | None = setting(None, "also save a PNG of the recent rows and the forecast")
    fill: str | None = setting(None, "fill empty cells: ffill, interpolate or drop (default: refuse)",
                               choices=FILLS)


@dataclass
class ForecastEvaluation:
    """`textrnn evaluate` on a forecaster: MSE and MAE over every window."""
    split: str = setting("test", "dataset split of --data for Hub ids")
    fill: str | None = setting(None, "fill empty cells: ffill, interpolate or drop (default: refuse)",
                               choices=FILLS)


@dataclass
class ForecastRequest:
    """POST /v1/forecast's body."""
    rows: list[list[float]] = setting([], "the most recent rows, oldest first, one value per "
                                      "column in the model's column order (GET /v1/models); at "
                                      "least its lookback", required=True)


@dataclass
class SeriesData:
    """The series a run reads: --data, and the validation and test series given apart."""
    train: Series
    val: Series | None
    test: Series | None


def forecast_command(fc: Forecaster, settings: ForecastSettings, write, progress: bool) -> None:
    """`textrnn forecast`: the forecast as CSV, on stdout or in --output; --plot draws it."""
    for path, flag in ((settings.output, "output"), (settings.plot, "plot")):
        if path:
            check_output(path, flag)  # before any work: no run's file, an existing folder
    frame = read_frame(settings.data)
    table = fc.forecast_table(frame, fill=settings.fill)  # timestamps at the data's resolution
    if settings.plot:
        fc.plot(frame, settings.plot, fill=settings.fill)
    if settings.output:
        write_output(settings.output, lambda tmp: Path(tmp).write_text(table.to_csv(index=False),
                                                                       encoding="utf-8"), "output")
    else:
        write(table.to_csv(index=False))


def rows_of(rows: list[list[float]], columns: list[str]) -> np.ndarray:
    """(rows, columns) values, every row complete and finite."""
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            raise DataError(f"row {i + 1} has {len(row)} values; each row needs {len(columns)}, "
                            f"one per column: {', '.join(columns)}")
    values = np.asarray(rows, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{int(bad.sum())} values are NaN or infinite (the first in row "
                        f"{int(np.argwhere(bad)[0][0]) + 1}); fill them before asking")
    return values


def forecast_endpoint(server, name: str, fc: Forecaster, body: ForecastRequest) -> dict:
    """POST /v1/forecast: the next horizon rows of the targets, in the data's units."""
    server.cap("the number of rows", len(body.rows), "max_rows")
    values = rows_of(body.rows, list(fc.scaler.columns))
    pred = fc.forecast(values)  # (horizon, targets)
    k = len(fc.targets)
    return {"model": name, "targets": fc.targets, "history": values[-fc.lookback:, :k].tolist(),
            "forecast": pred.tolist()}


# `textrnn train-forecaster`: SegRNN as its code trains it on ETT at lookback 96 (Lin et
# al. 2023): one GRU layer of 512 over 24-row segments, dropout 0.5, each window centred on
# its last row and not rescaled, MSE, Adam at 1e-3 decayed x0.9 per epoch after the third,
# batch 256, 30 epochs, the best validation epoch kept, stopping after 10 without gain.
COMMAND_DEFAULTS = dict(
    cell="gru", hidden_size=512, num_layers=1, dropout=0.5, lr=1e-3, batch_size=256, epochs=30,
    patience=10, eval_every=0, save_every=0, warmup_steps=0, weight_decay=0.0,
    schedule="decay", clip=0.0, loss="mse", revin_last=True, revin_scale=False)

# The founding document's Keras regressor on the bundled hourly series: SimpleRNN(50,
# return_sequences=True) -> SimpleRNN(50) -> Dense(1), Adam, mean squared error, batch 32;
# two days of lookback, the next hour out. recipes/timeseries.py --model stacked, and
# bench/keras_simplernn.py.
SAMPLE = dict(model="stacked", cell="rnn", hidden_size=50, num_layers=2, dropout=0.0,
              revin=False, loss="mse", lookback=48, horizon=1, batch_size=32, lr=1e-3,
              epochs=20, patience=0, schedule="constant", warmup_steps=0, clip=0.0,
              weight_decay=0.0, eval_every=0, save_every=0, target=["load"],
              data=str(SAMPLE_DATA / "hourly_load.csv"))

# recipes/timeseries.py's default: the bundled series' next day, hour by hour, from the
# week before it (a week holds the series' weekly cycle as well as its daily one). SegRNN
# as train-forecaster trains it, made small enough for a laptop's few seconds: GRU 128,
# 10 epochs of batch 64, cosine decay.
DAY_AHEAD = dict(COMMAND_DEFAULTS, hidden_size=128, dropout=0.1, lookback=168, seg_len=24,
                 horizon=24, batch_size=64, lr=3e-3, epochs=10, patience=0, schedule="cosine",
                 target=["load"], data=SAMPLE["data"])


class ForecastTask(Task):
    """Forecast the next rows of a numeric series (SegRNN or the founding document's regressor)."""
    name, command, Head, Data, Loaded = ("forecaster", "train-forecaster", ForecastHeadConfig,
                                         SeriesDataConfig, Forecaster)
    pipeline_tag = "time-series-forecasting"
    encodings, unit = (SCALER,), "windows"
    command_defaults = COMMAND_DEFAULTS
    encoder_flags_skip = ("embed_dim", "bidirectional", "embed_dropout", "weight_drop", "conv_kernel",
                          "block")
    metric, mode, sampled_eval, loss_unit = "mse", "min", False, "--loss, standardised"
    plots = ("forecast.png",)
    eval_batch_size = BATCH
    verb, verb_help, Use, Evaluation = ("forecast", "forecast the next rows with a forecaster run "
                                        "folder", ForecastSettings, ForecastEvaluation)
    use = staticmethod(forecast_command)
    endpoint = Endpoint("forecast", "the next horizon rows of a forecaster's targets",
                        ForecastRequest, forecast_endpoint, panel="forecast_panel.js")

    @staticmethod
    def check_model(cfg: ModelConfig):
        h = cfg.head
        if cfg.encoder.block != "plain":
            raise ConfigError(f"a forecaster stacks its cells plainly; drop "
                              f"{setting_name('block', cfg.encoder.block)}")
        if h.model == "segrnn" and h.lookback % h.seg_len:
            raise ConfigError(f"{setting_name('lookback', h.lookback)} must be a multiple of "
                              f"{setting_name('seg_len', h.seg_len)}")
        if h.model == "segrnn" and len(h.inputs) != len(h.targets):
            raise ConfigError(f"segrnn forecasts each channel from its own past; drop "
                              f"{setting_name('features')}, or use {setting_name('model', 'stacked')}")
        if h.inputs or h.targets:  # set from the data; config.json must agree with itself
            if not (1 <= len(h.targets) <= len(h.inputs) and h.inputs[: len(h.targets)] == h.targets):
                raise ConfigError("the head's inputs must start with its targets")
            if cfg.vocab_size != len(h.inputs):
                raise ConfigError(f"a forecaster reads its {len(h.inputs)} input channels through "
                                  f"scaler.json, but the config says {cfg.vocab_size}")

    @staticmethod
    def build_model(cfg: ModelConfig):
        if not cfg.head.targets:
            raise ConfigError("a forecaster needs its target channels")
        return FORECASTERS[cfg.head.model](cfg)

    @staticmethod
    def read_data(data_cfg: SeriesDataConfig, seed: int, saved=None) -> SeriesData:
        d = data_cfg
        series = load_series(d.data, d.target, d.features, d.time_column, d.fill, d.split, d.data_config)
        if saved is not None and series.columns != saved.head.inputs:
            raise DataError(f"the run forecasts from columns {saved.head.inputs}, but "
                            f"{setting_name('target')}/{setting_name('features')} now give "
                            f"{series.columns}; pass the run's columns")
        k = series.targets  # another file's columns: the same targets and features, in order

        def apart(source, split):
            return load_series(source, series.columns[:k], series.columns[k:], series.time_column,
                               d.fill, split, d.data_config) if source else None
        return SeriesData(series, apart(d.val_data, d.val_split), apart(d.test_data, d.test_split))

    @staticmethod
    def new_encoding(data: SeriesData, data_cfg):
        """The z-score of each channel, from the training rows only."""
        s = data.train
        rows = training_rows(len(s.values), data_cfg.split_fractions, data_cfg.parts())
        return "scaler", Scaler.fit(s.values[:rows], s.columns, s.time_column, s.targets)

    @staticmethod
    def complete(cfg: ModelConfig, data: SeriesData) -> ModelConfig:
        s = data.train
        return replace(cfg, head=replace(cfg.head, inputs=list(s.columns), targets=list(s.columns[: s.targets])))

    @staticmethod
    def from_language_model(lm, tokenizer, data, data_cfg, model_cfg):
        raise ConfigError(f"{setting_name('init_from')} starts a text model from a language model; "
                          f"a forecaster trains from scratch, drop {setting_name('init_from')}")

    @staticmethod
    def recipe_preset(given: dict) -> dict:
        """recipes/timeseries.py: on the bundled series a day ahead (SegRNN), or with
        --model stacked the founding document's one-step model; SegRNN (train-forecaster's
        defaults) on a series of your own."""
        if "data" in given:
            return dict(COMMAND_DEFAULTS)
        return dict(SAMPLE if given.get("model") == "stacked" else DAY_AHEAD)

    @classmethod
    def prepare(cls, data: SeriesData, scaler: Scaler, data_cfg, train_cfg, run_dir, model_cfg):
        h, s = model_cfg.head, data.train
        ranges = split_rows(len(s.values), data_cfg.split_fractions, h.lookback, h.horizon, data_cfg.parts())
        values = scaled(scaler, s.values, "the training data")  # (N, C)
        windows = lambda v: Windows(v, h.lookback, h.horizon, len(h.targets))  # noqa: E731
        splits = [windows(values[a:b]) for a, b in ranges]
        test_rows = (values, ranges[2], s.times) if len(ranges) == 3 else None
        for part, series in ((1, data.val), (2, data.test)):
            if series is not None:
                v = scaled(scaler, series.values, f"the {('validation', 'test')[part - 1]} data")
                _check_rows(len(v), h, ("validation", "test")[part - 1])
                splits.insert(part, windows(v))
                if part == 2:
                    test_rows = (v, (0, len(v)), series.times)
        log.info("series: %d rows, %d channels (%d forecast); windows: %s", len(values),
                 len(h.inputs), len(h.targets), ", ".join(str(len(w)) for w in splits))
        return cls(splits, train_cfg.batch_size, train_cfg.seed, scaler, test_rows, data_cfg.season,
                   train_cfg.eval_batch_size or cls.eval_batch_size)

    def __init__(self, splits, batch_size: int, seed: int, scaler, test_rows=None, season: int = 24,
                 eval_batch_size: int = BATCH):
        self.train, self.val = splits[0], splits[1]
        self.test = splits[2] if len(splits) == 3 else None
        self.batch_size, self.seed, self.scaler = batch_size, seed, scaler
        self.test_rows = test_rows  # for the plot of the test split's end
        self.season, self.eval_size = season, eval_batch_size
        self._epoch, self._order = None, None

    def order(self, epoch: int):
        if self._epoch != epoch:  # a fresh order each epoch, fixed by (seed, epoch)
            g = torch.Generator().manual_seed(self.seed * 1000 + epoch)
            self._epoch, self._order = epoch, torch.randperm(len(self.train), generator=g)
        return self._order

    def num_batches(self, epoch: int) -> int:
        return math.ceil(len(self.train) / self.batch_size)

    def batch(self, epoch: int, i: int):
        idx = self.order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        return self.train.get(idx)  # x (B, L, C), y (B, H, K)

    @staticmethod
    def tokens(batch) -> int:
        return batch[0].shape[0]  # windows: the rate is windows per second

    def loss(self, model, batch, carry, device):
        x, y = (t.to(device, non_blocking=True) for t in batch)
        return model(x, targets=y), None

    def evaluate(self, model, device, precision, final=False):
        return score_windows(model, self.val, self.scaler, device, precision, final, current(),
                             self.eval_size)

    def report(self, model, metrics, folder, device, precision) -> dict:
        """The kept model on the test split beside the baselines, and a plot of its end."""
        if self.test is None:
            return {}
        test = score_windows(model, self.test, self.scaler, device, precision, True, current(),
                             self.eval_size)
        test["baselines"] = baseline_scores(numpy_batches(self.test, self.eval_size), self.season,
                                            numpy_batches(self.train, self.eval_size))
        values, (a, b), times = self.test_rows
        folder.plot("forecast.png", lambda path: plot_test_period(
            model, values[a:b], self.scaler, path, None if times is None else times[a:b], device))
        return {"test": test}


def _check_rows(n: int, head, name: str) -> None:
    if n < head.lookback + head.horizon:
        raise DataError(f"the {name} series has {n} rows, but a window needs lookback + horizon = "
                        f"{head.lookback + head.horizon}; pass a longer one, or lower "
                        f"{setting_name('lookback')} or {setting_name('horizon')}")


__all__ = ["ForecastTask", "ForecastHeadConfig", "SeriesDataConfig", "Forecaster"]
