"""Forecasts drawn against the truth: the plot's lines, markers, axes and timestamps; the
forecast's timestamps at the data's resolution; the recipe's presets. Forecasters here are
saved with random weights (what is drawn, not how good it is, is under test)."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import textrnn
from textrnn import save_pretrained
from textrnn.data.series import Scaler, load_series, scaled, time_format
from textrnn.plots import FEW, forecast_figure
from textrnn.tasks import build_model
from textrnn.tasks import forecaster as forecaster_module
from textrnn.tasks.forecaster import SHOWN, plot_test_period

from test_forecast import forecaster_config, write_series

LOOKBACK = 24


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


def saved_forecaster(folder, horizon: int):
    """A stacked GRU over the `load` column, random weights, saved and loaded as a run."""
    torch.manual_seed(0)
    cfg = forecaster_config("stacked", lookback=LOOKBACK, horizon=horizon, inputs=["load"],
                            targets=["load"], revin=False)
    save_pretrained(folder, build_model(cfg), Scaler(["load"], [0.5], [2.0], "time", 1))
    return textrnn.load(folder, device="cpu")


def hourly_frame(n=60, end="2024-01-03 23:00"):
    """n hourly rows of `load` ending at 23:00, so the next row falls at midnight."""
    times = pd.date_range(end=end, periods=n, freq="h")
    return pd.DataFrame({"time": times, "load": np.sin(np.arange(n) / 4.0)})


def lines_by_label(ax) -> dict:
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def finite(line) -> np.ndarray:
    y = np.asarray(line.get_ydata(), dtype=float)
    return y[np.isfinite(y)]


@pytest.fixture
def figures(monkeypatch):
    """Every figure the forecaster's plots draw, kept open (they are still written too)."""
    drawn, save = [], forecaster_module.plot_forecast

    def keep(history, forecast, truth, names, out_path, times=None, **kw):
        drawn.append(forecast_figure(history, forecast, truth, names, times, **kw))
        save(history, forecast, truth, names, out_path, times, **kw)
    monkeypatch.setattr(forecaster_module, "plot_forecast", keep)
    return drawn


# ---- timestamps at the data's resolution ------------------------------------------------------
@pytest.mark.parametrize("times,want", [
    (pd.date_range("2025-07-06 23:00", periods=2, freq="h"), "%Y-%m-%d %H:%M"),
    (pd.date_range("2025-07-07", periods=3, freq="D"), "%Y-%m-%d"),
    (pd.date_range("2025-07-07", periods=3, freq="15s"), "%Y-%m-%d %H:%M:%S"),
    (pd.date_range("2025-07-07", periods=3, freq="ms"), "%Y-%m-%d %H:%M:%S.%f"),
    (pd.date_range("2025-07-07", periods=2, freq="h", tz="UTC"), "%Y-%m-%d %H:%M %z"),
])
def test_the_time_format_follows_the_data_resolution(times, want):
    assert time_format(times) == want


def test_an_hourly_forecast_at_midnight_keeps_its_hour(tmp_path):
    fc = saved_forecaster(tmp_path / "run", horizon=1)
    frame = hourly_frame()
    table = fc.forecast_table(frame)
    assert list(table["time"]) == ["2024-01-04 00:00"]  # pandas alone prints 2024-01-04
    assert pd.Timestamp(fc.forecast(frame)["time"][0]) == pd.Timestamp("2024-01-04 00:00")
    assert np.allclose(table["load"], fc.forecast(frame)["load"])


def test_the_forecast_command_writes_hours(tmp_path, capsys):
    from textrnn import cli
    saved_forecaster(tmp_path / "run", horizon=3)
    hourly_frame().to_csv(tmp_path / "recent.csv", index=False)
    cli.main(["forecast", str(tmp_path / "run"), "--data", str(tmp_path / "recent.csv")])
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows[0] == "time,load"
    assert [r.split(",")[0] for r in rows[1:]] == ["2024-01-04 00:00", "2024-01-04 01:00",
                                                   "2024-01-04 02:00"]


# ---- the figure ------------------------------------------------------------------------------
def test_timestamps_with_an_offset_draw_a_time_axis_in_utc():
    L, H = 10, 4
    times = pd.date_range("2025-01-01", periods=L + H, freq="h", tz="Europe/Berlin")
    fig = forecast_figure(np.zeros((L, 1)), np.ones((H, 1)), np.ones((H, 1)), ["load"], times)
    x = np.asarray(lines_by_label(fig.axes[0])["history"].get_xdata())
    assert np.issubdtype(x.dtype, np.datetime64)
    assert pd.Timestamp(x[0]) == pd.Timestamp("2024-12-31 23:00")  # midnight in Berlin, in UTC


def test_a_multi_step_forecast_is_a_line_beside_the_truth():
    L, H = 30, 24
    times = pd.date_range("2025-01-01", periods=L + H, freq="h")
    history, truth, forecast = np.zeros((L, 1)), np.ones((H, 1)), np.full((H, 1), 2.0)
    fig = forecast_figure(history, forecast, truth, ["load"], times)
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    assert set(lines) == {"history", "truth", "forecast (24 rows)"}
    truth, line = finite(lines["truth"]), lines["forecast (24 rows)"]
    assert len(truth) == H and (truth == 1).all()
    assert len(finite(line)) == H and (finite(line) == 2).all()
    assert line.get_marker() in ("None", None)  # enough points for a line
    assert "load" in ax.get_ylabel() and "original units" in ax.get_ylabel()
    assert ax.get_xlabel() == "time"
    fig.canvas.draw()  # tick labels are made when drawn
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(len(t) == len("2025-01-01 00:00") for t in labels), labels


def test_a_one_step_forecast_gets_markers():
    history, forecast, truth = np.zeros((LOOKBACK, 1)), np.ones((1, 1)), np.full((1, 1), 3.0)
    fig = forecast_figure(history, forecast, truth, ["load"], unit="standardised")
    ax = fig.axes[0]
    lines = lines_by_label(ax)
    for name in ("forecast (1 row)", "truth"):
        assert len(finite(lines[name])) == 1 and lines[name].get_marker() == "o", name
    assert lines["history"].get_marker() in ("None", None)  # LOOKBACK rows: a line shows
    assert LOOKBACK > FEW and "standardised" in ax.get_ylabel()
    assert list(lines["forecast (1 row)"].get_xdata()) == [0]  # rows numbered from the forecast
    assert "row" in ax.get_xlabel()


def test_forecasts_of_several_blocks_break_between_blocks():
    """Each block starts again from the truth, so the line must not join two blocks."""
    H, blocks = 6, 4
    forecast = np.arange(H * blocks, dtype=float)[:, None]
    fig = forecast_figure(np.zeros((10, 1)), forecast, forecast, ["load"], block=H)
    line = next(v for k, v in lines_by_label(fig.axes[0]).items() if k.startswith("forecasts"))
    y = np.asarray(line.get_ydata(), dtype=float)
    assert np.array_equal(finite(line), forecast[:, 0])
    assert np.isnan(y).sum() == blocks - 1


# ---- the plots a run and `textrnn forecast --plot` write ---------------------------------------
@pytest.mark.parametrize("horizon", [1, 6])
def test_the_test_period_plot_draws_every_forecast_against_the_truth(tmp_path, figures, horizon):
    fc = saved_forecaster(tmp_path / "run", horizon)
    series = load_series(write_series(tmp_path / "s.csv", n=300, channels=("load",)), ["load"])
    values = scaled(fc.scaler, series.values, "test")  # (N, 1)
    plot_test_period(fc.model, values, fc.scaler, tmp_path / "forecast.png", series.times, "cpu")
    assert (tmp_path / "forecast.png").stat().st_size > 1000
    ax = figures[-1].axes[0]
    lines = lines_by_label(ax)
    truth, forecast = lines["truth"], next(v for k, v in lines.items() if "forecast" in k)
    assert len(finite(truth)) == len(finite(forecast)) == SHOWN  # a week of hourly rows
    # In the data's own units (through float32 and back).
    assert np.allclose(finite(truth), series.values[-SHOWN:, 0], atol=1e-5)
    assert (forecast.get_marker() == "o") == (horizon == 1)
    # The first block is the forecast from the true rows before it, as `forecast` makes it.
    first = len(series.values) - SHOWN
    frame = pd.DataFrame({"time": series.times[:first], "load": series.values[:first, 0]})
    assert np.allclose(finite(forecast)[:horizon], fc.forecast(frame)["load"], atol=1e-4)
    assert pd.Timestamp(truth.get_xdata()[0]) == series.times[first]


def test_forecast_plot_draws_the_forecast_after_the_data_with_timestamps(tmp_path, figures):
    fc = saved_forecaster(tmp_path / "run", horizon=1)
    frame = hourly_frame()
    fc.plot(frame, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    lines = lines_by_label(figures[-1].axes[0])
    forecast = lines["forecast (1 row)"]
    assert forecast.get_marker() == "o" and np.allclose(finite(forecast), fc.forecast(frame)["load"])
    assert pd.Timestamp(forecast.get_xdata()[0]) == pd.Timestamp("2024-01-04 00:00")
    assert len(finite(lines["history"])) == LOOKBACK


# ---- the page's chart ------------------------------------------------------------------------
PANEL = Path(textrnn.__file__).parent / "tasks" / "forecast_panel.js"
# Runs the panel in node over a few stand-in DOM objects, answers POST /v1/forecast with 48
# history rows and `horizon` forecast rows, and prints what the chart's SVG holds.
CHART = r"""
const made = [];
const node = (tag, props) => {
  const e = Object.assign({tag, attrs: {}, children: [], textContent: "",
    setAttribute(k, v) { this.attrs[k] = String(v); },
    appendChild(c) { this.children.push(c); return c; },
    append(...c) { this.children.push(...c); }}, props || {});
  made.push(e);
  return e;
};
globalThis.window = {textrnn: {panels: {}}};
globalThis.document = {createElementNS: (ns, tag) => node(tag)};
require(process.argv[2]);
const H = Number(process.argv[3]);
const $ = (id) => made.find((e) => e.id === id);
const reply = {targets: ["load"], history: Array.from({length: 48}, (_, i) => [50 + i % 24]),
               forecast: Array.from({length: H}, (_, i) => [60 + i])};
const panel = window.textrnn.panels.forecaster(node("div"), {$, showError: (m) => { if (m) throw new Error(m); },
  element: (tag, props, ...kids) => { const e = node(tag, props); e.children.push(...kids); return e; },
  postJSON: async () => ({json: async () => reply})});
panel.show({name: "m", endpoint: "/v1/forecast", columns: ["load"], lookback: 48});
$("series").value = "load\n1";
$("forecast").onclick().then(() => {
  const svg = $("charts").children[0];
  const of = (tag) => svg.children.filter((e) => e.tag === tag);
  console.log(JSON.stringify({texts: of("text").map((e) => e.textContent),
    circles: of("circle").map((e) => e.attrs.fill), strokes: of("polyline").map((e) => e.attrs.stroke)}));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the page's script")
@pytest.mark.parametrize("horizon", [1, 24])
def test_the_page_chart_has_axes_ticks_a_legend_and_forecast_markers(tmp_path, horizon):
    script = tmp_path / "chart.js"
    script.write_text(CHART)
    done = subprocess.run(["node", str(script), str(PANEL), str(horizon)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    svg = json.loads(done.stdout)
    texts = svg["texts"]
    assert "load (data's units)" in texts and any("rows after the last row given" in t for t in texts)
    assert "0" in texts and any(t.startswith("-") for t in texts)  # x ticks: history before 0
    assert sum(t.replace(".", "").isdigit() and float(t) >= 50 for t in texts) >= 2  # y ticks
    assert any(t.startswith("forecast (") for t in texts) and any(t.startswith("history (") for t in texts)
    colours = set(svg["circles"])
    assert len(colours) == 1  # one colour for the forecast's markers (the legend's one included)
    assert len(svg["circles"]) == horizon + 1  # a marker on every forecast row, one in the legend
    # The forecast's lines share its markers' colour; the history's (and the axes') differ.
    assert colours < set(svg["strokes"]) and len(set(svg["strokes"]) - colours) >= 2


# ---- the recipe's presets --------------------------------------------------------------------
def recipe_settings(*argv):
    return textrnn.parse_settings("forecaster", list(argv),
                                  preset=textrnn.presets.for_recipe("forecaster", "timeseries"))


def test_the_recipe_forecasts_a_day_ahead_by_default():
    head = recipe_settings().model.head
    assert head.horizon == 24 and head.model == "segrnn" and head.lookback % head.seg_len == 0


def test_the_founding_documents_one_step_model_is_its_own_preset():
    s = recipe_settings("--model", "stacked")
    enc, head = s.model.encoder, s.model.head
    assert (enc.cell, enc.hidden_size, enc.num_layers) == ("rnn", 50, 2)
    assert (head.model, head.horizon, head.lookback) == ("stacked", 1, 48)
    assert s.training.batch_size == 32 and head.loss == "mse"
    typed = recipe_settings("--model", "stacked", "--horizon", "24")
    assert typed.model.head.horizon == 24  # what is typed wins over the preset
