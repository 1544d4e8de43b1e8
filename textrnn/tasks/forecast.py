"""Numeric forecasting: the lookback rows of a series in, the next horizon rows of its
target channels out. Splits are chronological, the z-score is fitted on training rows and
saved as scaler.json, and windows are views made batch by batch.

Shapes: B windows, L lookback, H horizon, C input channels (targets first), K targets.
"""
import logging
import math
from dataclasses import dataclass, replace

import torch

from ..config import ModelConfig
from ..data.series import FILLS, Scaler, Series, Windows, load_series, split_rows, training_rows
from ..errors import ConfigError, DataError
from ..models.forecasters import FORECASTERS, LOSSES
from ..parallel import current
from ..presets import FORECASTER_COMMAND_DEFAULTS
from ..settings import setting
from .baselines import baseline_scores
from .forecaster import Forecaster, numpy_batches, plot_last_window, score_windows

log = logging.getLogger("textrnn")
LIMIT = 1_000_000  # rows: the largest lookback or horizon accepted (a typo guard)


@dataclass
class SeriesDataConfig:
    """Where a series comes from and how it is cut."""
    data: str = setting("", "the series: csv/tsv/jsonl/parquet, or a Hugging Face Hub dataset id")
    target: list = setting([], "column(s) to forecast, or 'all' (every column but the time)",
                           nargs="+", metavar="COL")
    features: list = setting([], "extra input columns, or 'all' (stacked model only)",
                             nargs="+", metavar="COL")
    time_column: str | None = setting(None, "timestamps, checked to increase (default: a column "
                                      "named date, time, timestamp, datetime or ds)")
    split: str = setting("0.7,0.1,0.2", "chronological train,validation[,test]: fractions, or "
                         "row counts (ETT: 8640,2880,2880)")
    season: int = setting(24, "rows per season, for the seasonal-naive baseline (hourly data: 24)",
                          low=1, high=LIMIT)
    fill: str | None = setting(None, "fill empty cells: ffill, interpolate or drop (default: refuse)",
                               choices=FILLS)
    data_split: str = setting("train", "dataset split of --data for Hub ids")
    data_config: str | None = setting(None, "dataset configuration name for Hub ids")


@dataclass
class ForecastHeadConfig:
    model: str = setting("segrnn", "stacked (the founding document's regressor) or segrnn "
                         "(Lin et al. 2023)", choices=tuple(FORECASTERS))
    lookback: int = setting(96, "rows each forecast reads", low=1, high=LIMIT)
    horizon: int = setting(96, "rows each forecast predicts", low=1, high=LIMIT)
    decoding: str = setting("direct", "stacked model: all rows at once (direct) or one at a "
                            "time, fed back (recurrent)", choices=("direct", "recurrent"))
    seg_len: int = setting(24, "segrnn: rows per segment; must divide --lookback", low=1, high=LIMIT)
    revin: bool = setting(True, "no reversible instance normalisation (Kim et al. 2022)",
                          flag="--no-revin")
    revin_last: bool = setting(False, "RevIN centres each window on its last row, or on its mean "
                               "(--no-revin-last)")
    revin_scale: bool = setting(True, "RevIN divides each window by its spread, or only centres it "
                                "(--no-revin-scale; with --revin-last: SegRNN's own normalisation)")
    loss: str = setting("mae", "training loss (the best epoch is still picked by validation MSE)",
                        choices=tuple(LOSSES))
    inputs: list = setting([], "input channel names (targets first)", cli=False)
    targets: list = setting([], "forecast channel names", cli=False)


class ForecastTask:
    """Forecast the next rows of a numeric series (SegRNN or the founding document's regressor)."""
    name, command, Head, Data, Loaded = ("forecaster", "train-forecaster", ForecastHeadConfig,
                                         SeriesDataConfig, Forecaster)
    command_defaults = FORECASTER_COMMAND_DEFAULTS
    encoder_flags_skip = ("embed_dim", "bidirectional", "embed_dropout", "weight_drop", "conv_kernel")
    metric, mode, sampled_eval, loss_unit = "mse", "min", False, "--loss, standardised"

    @staticmethod
    def check_model(cfg: ModelConfig):
        h = cfg.head
        if h.model == "segrnn" and h.lookback % h.seg_len:
            raise ConfigError(f"--lookback {h.lookback} must be a multiple of --seg-len {h.seg_len}")
        if h.model == "segrnn" and len(h.inputs) != len(h.targets):
            raise ConfigError("segrnn forecasts each channel from its own past; drop --features, "
                              "or use --model stacked")
        if cfg.encoder.cell == "rnn" and cfg.encoder.activation == "sigmoid":
            raise ConfigError("nn.RNN has no sigmoid; use --cell elman for a sigmoid RNN")
        if h.inputs or h.targets:  # set from the data; config.json must agree with itself
            if not (1 <= len(h.targets) <= len(h.inputs) and h.inputs[: len(h.targets)] == h.targets):
                raise ConfigError("the head's inputs must start with its targets")
            if cfg.tokenizer != "scaler" or cfg.vocab_size != len(h.inputs):
                raise ConfigError(f"a forecaster reads its {len(h.inputs)} input channels through "
                                  f"scaler.json, but the config says {cfg.tokenizer} with {cfg.vocab_size}")

    @staticmethod
    def build_model(cfg: ModelConfig):
        if not cfg.head.targets:
            raise ConfigError("a forecaster needs its target channels")
        return FORECASTERS[cfg.head.model](cfg)

    @staticmethod
    def read_data(data_cfg: SeriesDataConfig, seed: int, saved=None) -> Series:
        series = load_series(data_cfg.data, data_cfg.target, data_cfg.features, data_cfg.time_column,
                             data_cfg.fill, data_cfg.data_split, data_cfg.data_config)
        if saved is not None and series.columns != saved.head.inputs:
            raise DataError(f"the run forecasts from columns {saved.head.inputs}, but --target/"
                            f"--features now give {series.columns}; pass the run's columns")
        return series

    @staticmethod
    def new_tokenizer(data: Series, data_cfg):
        """The z-score of each channel, from the training rows only."""
        rows = training_rows(len(data.values), data_cfg.split)
        return "scaler", Scaler.fit(data.values[:rows], data.columns, data.time_column, data.targets)

    @staticmethod
    def complete(cfg: ModelConfig, data: Series) -> ModelConfig:
        return replace(cfg, head=replace(cfg.head, inputs=list(data.columns),
                                         targets=list(data.columns[: data.targets])))

    @staticmethod
    def from_language_model(lm, tokenizer, data, data_cfg, model_cfg):
        raise ConfigError("--init-from starts a text model from a language model; a forecaster "
                          "trains from scratch, drop --init-from")

    @classmethod
    def prepare(cls, data: Series, scaler: Scaler, data_cfg, train_cfg, run_dir, model_cfg):
        h = model_cfg.head
        ranges = split_rows(len(data.values), data_cfg.split, h.lookback, h.horizon)
        values = torch.from_numpy(scaler.transform(data.values)).float()  # (N, C)
        splits = [Windows(values[a:b], h.lookback, h.horizon, len(h.targets)) for a, b in ranges]
        log.info("series: %d rows, %d channels (%d forecast); windows: %s", len(values),
                 len(h.inputs), len(h.targets), ", ".join(str(len(w)) for w in splits))
        return cls(splits, train_cfg.batch_size, train_cfg.seed, scaler,
                   (values, ranges[-1], data.times) if len(ranges) == 3 else None, data_cfg.season)

    def __init__(self, splits, batch_size: int, seed: int, scaler, test_rows=None, season: int = 24):
        self.train, self.val = splits[0], splits[1]
        self.test = splits[2] if len(splits) == 3 else None
        self.batch_size, self.seed, self.scaler = batch_size, seed, scaler
        self.test_rows = test_rows  # for the plot of the test split's last window
        self.season = season
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
        return batch[0].shape[0]  # windows: the rate is samples per second

    def loss(self, model, batch, carry, device):
        x, y = (t.to(device, non_blocking=True) for t in batch)
        return model(x, targets=y), None

    def evaluate(self, model, device, precision, final=False):
        return score_windows(model, self.val, self.scaler, device, precision, final, current())

    def report(self, model, metrics, folder, device, precision) -> dict:
        """The kept model on the test split beside the baselines, and a plot of its last window."""
        if self.test is None:
            return {}
        test = score_windows(model, self.test, self.scaler, device, precision, True, current())
        test["baselines"] = baseline_scores(numpy_batches(self.test), self.season,
                                            numpy_batches(self.train))
        values, (a, b), times = self.test_rows
        folder.plot("forecast.png", lambda path: plot_last_window(
            model, values[a:b], self.scaler, path, None if times is None else times[a:b], device))
        return {"test": test}


__all__ = ["ForecastTask", "ForecastHeadConfig", "SeriesDataConfig", "Forecaster"]
