"""The forecasting task: windows, splits and scaling, the two models, save/load, resume,
and the recipe and commands end to end on tiny settings."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import textrnn
from textrnn import EncoderConfig, ForecastHeadConfig, ModelConfig, SeriesDataConfig, TrainConfig
from textrnn.checkpoint import load_training_state
from textrnn.data.series import Scaler, Series, Windows, split_rows
from textrnn.tasks import ForecastTask, build_model
from textrnn.tasks.forecast import SeriesData
from textrnn.tasks.baselines import naive, seasonal_naive

from test_bad_input import run_script

CELL_KINDS = ("lstm", "gru", "rnn", "elman")


def write_series(path, n=400, seed=0, channels=("load", "temp")) -> Path:
    """A daily-cycle series with noise, hourly timestamps."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frame = {"time": pd.date_range("2024-01-01", periods=n, freq="h")}
    for i, name in enumerate(channels):
        frame[name] = np.sin(2 * np.pi * (t + 3 * i) / 24) + 0.1 * rng.standard_normal(n) + i
    pd.DataFrame(frame).to_csv(path, index=False)
    return Path(path)


def forecaster_config(model="segrnn", cell="gru", lookback=24, horizon=12, dropout=0.0,
                      **head) -> ModelConfig:
    return ModelConfig(task="forecaster", tokenizer="scaler", vocab_size=len(head.get("inputs", [])),
                       encoder=EncoderConfig(cell=cell, hidden_size=16, num_layers=1, dropout=dropout),
                       head=ForecastHeadConfig(model=model, lookback=lookback, horizon=horizon,
                                               seg_len=head.pop("seg_len", 6), **head))


def train_small(tmp_path, data, out="run", model="segrnn", target=("all",), resume=False, **train):
    settings = dict(epochs=2, batch_size=16, lr=3e-3, eval_every=0, save_every=0, warmup_steps=0,
                    seed=0, schedule="constant")
    # Dropout draws random numbers, so a resume must restore the generators too.
    return textrnn.train("forecaster", SeriesDataConfig(data=str(data), target=list(target)),
                         forecaster_config(model, dropout=0.3), TrainConfig(**{**settings, **train}),
                         tmp_path / out, resume=resume, show_progress=False)


@pytest.fixture
def series_csv(tmp_path):
    return write_series(tmp_path / "series.csv")


# ---- windows, splits, scaling ---------------------------------------------------------------
def test_windows_never_cross_splits_or_read_the_future():
    n, L, H = 200, 12, 5
    index = torch.arange(n, dtype=torch.float32)[:, None]  # each row holds its own number
    ranges = split_rows(n, "0.7,0.1,0.2", L, H)
    assert [b for _, b in ranges] == [140, 160, 200]
    first_target = [0, 140, 160]
    for (a, b), lowest in zip(ranges, first_target):
        w = Windows(index[a:b], L, H, 1)
        x, y = w.get(torch.arange(len(w)))
        assert torch.all(x[:, -1, 0] + 1 == y[:, 0, 0])  # targets follow the inputs at once
        assert torch.all(torch.diff(y[..., 0], dim=1) == 1) and torch.all(torch.diff(x[..., 0], dim=1) == 1)
        assert y.min() >= max(lowest, L) and y.max() < b  # targets inside the split
        assert x.min() >= a >= lowest - L  # inputs reach back at most one lookback
    assert ranges[1][0] == 140 - L and ranges[2][0] == 160 - L


def test_split_by_row_counts_follows_the_standard_protocol():
    assert split_rows(17420, "8640,2880,2880", 96, 96) == [(0, 8640), (8544, 11520), (11424, 14400)]


def test_windows_are_views_of_the_series():
    values = torch.randn(100, 3)
    w = Windows(values, 10, 4, 2)
    assert w.view.data_ptr() == values.data_ptr() and len(w) == 100 - 14 + 1
    x, y = w.get(torch.tensor([7]))
    assert torch.equal(x[0], values[7:17]) and torch.equal(y[0], values[17:21, :2])


def test_the_scaler_is_fitted_on_training_rows_only():
    values = np.concatenate([np.random.default_rng(0).normal(5, 2, (70, 2)), np.full((30, 2), 1e6)])
    data = SeriesData(Series(values, ["a", "b"], 1), None, None)
    _, scaler = ForecastTask.new_encoding(data, SeriesDataConfig(split_fractions="0.7,0.1,0.2"))
    assert np.allclose(scaler.mean, values[:70].mean(0)) and np.allclose(scaler.std, values[:70].std(0))
    assert np.allclose(scaler.inverse(scaler.transform(values)[:, :1]), values[:, :1])


def test_scaler_file_round_trips(tmp_path):
    s = Scaler(["a", "b"], [1.0, 2.0], [3.0, 4.0], "time", 1)
    (tmp_path / "scaler.json").write_text(s.to_str())
    t = Scaler.from_file(tmp_path / "scaler.json")
    assert t.columns == s.columns and t.targets == 1 and t.time_column == "time"
    assert np.array_equal(t.mean, s.mean) and np.array_equal(t.std, s.std)


def test_the_batched_linear_map_equals_one_least_squares_fit():
    from textrnn.tasks.baselines import apply_linear, fit_linear
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 12, 3)), rng.normal(size=(300, 4, 2))
    batches = [(x[i:i + 64], y[i:i + 64]) for i in range(0, 300, 64)]
    weights = fit_linear(batches, 2)
    rows = np.concatenate([x[:, :, :2].transpose(0, 2, 1).reshape(600, 12), np.ones((600, 1))], 1)
    direct = np.linalg.lstsq(rows, y.transpose(0, 2, 1).reshape(600, 4), rcond=None)[0]
    assert np.allclose(weights, direct, atol=1e-8)
    assert apply_linear(weights, x, 2).shape == (300, 4, 2)


def test_baselines():
    x = torch.arange(2 * 48, dtype=torch.float32).view(2, 48, 1).numpy()
    assert (naive(x, 3, 1)[:, :, 0] == x[:, -1:, 0]).all()
    seasonal = seasonal_naive(x, 30, 1, 24)[0, :, 0]
    assert list(seasonal[:3]) == [24, 25, 26] and seasonal[24] == 24  # repeats the last day


# ---- the models ---------------------------------------------------------------------------
def test_segrnn_parallel_decoding_equals_a_step_by_step_loop():
    torch.manual_seed(0)
    model = build_model(forecaster_config(lookback=24, horizon=20, inputs=["a", "b", "c"],
                                          targets=["a", "b", "c"])).eval()
    x = torch.randn(5, 24, 3)
    with torch.no_grad():
        parallel = model(x)  # (5, 20, 3)
        z, _ = model.revin.normalise(x)
        segments = z.transpose(1, 2).reshape(15, 4, 6)
        _, state = model.rnn(model.embed(segments))
        rows = []
        for j in range(model.n_out):  # one output segment at a time, each from the encoder's state
            query = torch.cat([model.position[j].expand(15, -1),
                               model.channel.repeat(5, 1)], -1).unsqueeze(1)  # (15, 1, d)
            out, _ = model.rnn(query, state)
            rows.append(model.out(out[:, 0]))  # (15, 6)
        loop = torch.stack(rows, 1).reshape(5, 3, -1)[:, :, :20].transpose(1, 2)
        loop = model.revin.denormalise(loop, model.revin.normalise(x)[1])
    assert torch.allclose(parallel, loop, atol=1e-5)


@pytest.mark.parametrize("cell", CELL_KINDS)
@pytest.mark.parametrize("model,decoding", [("segrnn", "direct"), ("stacked", "direct"),
                                            ("stacked", "recurrent")])
def test_every_model_and_cell_overfits_one_batch(model, decoding, cell):
    torch.manual_seed(0)
    cfg = forecaster_config(model, cell, lookback=12, horizon=6, decoding=decoding, loss="mse",
                            inputs=["a", "b"], targets=["a", "b"])
    net = build_model(cfg)
    x, y = torch.randn(8, 12, 2), torch.randn(8, 6, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = float(net(x, targets=y).detach())
    for _ in range(300):
        opt.zero_grad()
        loss = net(x, targets=y)
        loss.backward()
        opt.step()
    assert net(x).shape == (8, 6, 2)
    assert float(loss.detach()) < 0.1 * first, (model, decoding, cell, first, float(loss))


def test_keras_reproduction_is_two_simple_rnns_and_a_dense():
    cfg = ModelConfig(task="forecaster", tokenizer="scaler", vocab_size=1,
                      encoder=EncoderConfig(cell="rnn", hidden_size=50, num_layers=2),
                      head=ForecastHeadConfig(model="stacked", lookback=48, horizon=1, revin=False,
                                              inputs=["load"], targets=["load"]))
    shapes = {k: tuple(v.shape) for k, v in build_model(cfg).state_dict().items()}
    # Keras counts one bias per layer: 50 + 2550 + 50 = 2,650 and 2,550 + 2,550 + 50 = 5,050,
    # Dense 51; torch keeps two bias vectors that add, 50 more per layer.
    assert shapes == {"rnn.layers.0.weight_ih_l0": (50, 1), "rnn.layers.0.weight_hh_l0": (50, 50),
                      "rnn.layers.0.bias_ih_l0": (50,), "rnn.layers.0.bias_hh_l0": (50,),
                      "rnn.layers.1.weight_ih_l0": (50, 50), "rnn.layers.1.weight_hh_l0": (50, 50),
                      "rnn.layers.1.bias_ih_l0": (50,), "rnn.layers.1.bias_hh_l0": (50,),
                      "out.weight": (1, 50), "out.bias": (1,)}


# ---- a run: train, save, load, resume -------------------------------------------------------
def test_train_save_load_gives_identical_forecasts(tmp_path, series_csv):
    result = train_small(tmp_path, series_csv)
    folder = Path(result["run_dir"])
    assert {"config.json", "model.safetensors", "scaler.json", "forecast.png", "metrics.json"} <= \
        {p.name for p in folder.iterdir()}
    assert not (folder / "tokenizer.json").exists()
    f = textrnn.load(folder)
    frame = pd.read_csv(series_csv)
    out = f.forecast(frame)
    assert list(out.columns) == ["time", "load", "temp"] and len(out) == 12
    assert pd.Timestamp(out["time"][0]) == pd.Timestamp(frame["time"].iloc[-1]) + pd.Timedelta("1h")
    again = textrnn.load(folder).forecast(frame)
    assert out.equals(again)
    # The array path and the frame path agree; units are the data's own.
    arr = f.forecast(frame[["load", "temp"]].to_numpy())
    assert np.allclose(arr, out[["load", "temp"]].to_numpy())
    assert abs(out["temp"].mean() - 1) < 1.0  # the temp channel is centred near 1
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["test"]["baselines"]) == {"naive", "seasonal_naive", "linear"}


def test_evaluate_scores_every_window_per_channel_and_step(tmp_path, series_csv):
    folder = train_small(tmp_path, series_csv)["run_dir"]
    m = textrnn.load(folder).evaluate(series_csv)
    assert m["windows"] == 400 - 24 - 12 + 1
    assert set(m["per_channel"]) == {"load", "temp"} and len(m["per_step"]["mse"]) == 12
    assert np.isclose(np.mean(m["per_step"]["mse"]), m["mse"], rtol=1e-4)
    assert np.isclose(np.mean([c["mse"] for c in m["per_channel"].values()]), m["mse"], rtol=1e-4)


def test_resume_is_exact(tmp_path, series_csv):
    straight = train_small(tmp_path, series_csv, "a", max_steps=20, epochs=0)
    train_small(tmp_path, series_csv, "b", max_steps=9, epochs=0)  # stops mid-epoch
    resumed = train_small(tmp_path, series_csv, "b", max_steps=20, epochs=0, resume=True)
    assert straight["step"] == resumed["step"] == 20
    a, b = load_training_state(tmp_path / "a")["model"], load_training_state(tmp_path / "b")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_hub_layout_folder_is_a_source(tmp_path):
    folder = tmp_path / "hub" / "data"
    folder.mkdir(parents=True)
    write_series(folder / "train-00000-of-00001.csv")
    result = train_small(tmp_path, tmp_path / "hub", target=["load"], epochs=1)
    assert textrnn.load(result["run_dir"]).targets == ["load"]


# ---- the recipe and the commands ------------------------------------------------------------
def test_recipe_end_to_end(tmp_path, capsys, series_csv):
    run_script("timeseries", ["--out", str(tmp_path / "r"), "--max-steps", "8", "--quiet"])
    out = capsys.readouterr().out
    assert "this model" in out and "seasonal naive" in out and "beats:" in out
    assert (tmp_path / "r" / "forecast.png").stat().st_size > 1000
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["head"]["horizon"] == 24 and cfg["head"]["model"] == "segrnn"  # a day ahead
    assert "next 24 row(s) after the data" in out
    assert "2025-07-07 00:00 " in out and "2025-07-07 23:00 " in out  # the hours kept


def test_cli_trains_forecasts_and_evaluates(tmp_path, capsys, series_csv):
    from textrnn import cli
    run = tmp_path / "cli"
    cli.main(["train-forecaster", "--data", str(series_csv), "--target", "load", "--features", "temp",
              "--model", "stacked", "--lookback", "24", "--horizon", "6", "--hidden-size", "8",
              "--epochs", "1", "--batch-size", "32", "--out", str(run), "--quiet"])
    assert "test" in capsys.readouterr().out
    cli.main(["forecast", str(run), "--data", str(series_csv), "--output", str(tmp_path / "f.csv"),
              "--plot", str(tmp_path / "f.png")])
    table = pd.read_csv(tmp_path / "f.csv")
    assert list(table.columns) == ["time", "load"] and len(table) == 6
    assert (tmp_path / "f.png").stat().st_size > 1000
    cli.main(["evaluate", str(run), "--data", str(series_csv), "--json"])
    m = json.loads(capsys.readouterr().out)
    assert set(m["per_channel"]) == {"load"} and m["windows"] == 400 - 30 + 1


@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("scale", [True, False])
def test_revin_maps_back_exactly(last, scale):
    from textrnn.models.forecasters import RevIN
    revin = RevIN(3, last=last, scale=scale)
    x = torch.randn(4, 10, 3) * 5 + 2
    z, stats = revin.normalise(x)
    if last:
        assert torch.allclose(z[:, -1], torch.zeros(4, 3), atol=1e-6)
    else:
        assert torch.allclose(z.mean(1), torch.zeros(4, 3), atol=1e-5)
    if not scale:  # only centred: SegRNN's own x - x_last when `last`
        centre = x[:, -1:] if last else x.mean(1, keepdim=True)
        assert torch.allclose(z, x - centre, atol=1e-5)
    assert torch.allclose(revin.denormalise(z, stats), x, atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_recurrent_weights_start_orthogonal_and_biases_zero(cell):
    from textrnn.models.forecasters import StackedCells
    layers = StackedCells(cell, 3, 16, 2)
    for name, p in layers.named_parameters():
        if "weight_hh" in name:
            for block in p.data.split(16):  # one per gate
                assert torch.allclose(block @ block.T, torch.eye(16), atol=1e-5), name
        if "bias" in name:
            assert not p.any(), name


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".parquet"])
def test_every_table_format_reads_the_same_series(tmp_path, series_csv, suffix):
    from textrnn.data.series import load_series
    frame = pd.read_csv(series_csv)
    path = tmp_path / f"series{suffix}"
    if suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    want, got = load_series(series_csv, ["all"]), load_series(path, ["all"])
    assert got.columns == want.columns == ["load", "temp"] and got.time_column == "time"
    assert np.allclose(got.values, want.values) and (got.times == want.times).all()
