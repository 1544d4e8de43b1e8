"""Bad input for forecasting: every case one clear line, a non-zero exit, no traceback, and
the saved run untouched (see test_bad_input.py for the rules and helpers)."""
import numpy as np
import pandas as pd
import pytest

from textrnn import DataError, cli, load

from test_bad_input import digest, one_line_error
from test_forecast import write_series

SMALL = ["--hidden-size", "8", "--batch-size", "32", "--epochs", "1", "--lookback", "24",
         "--horizon", "6", "--seg-len", "6", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("forecast")
    data = write_series(root / "series.csv")
    cli.main(["train-forecaster", "--data", str(data), "--target", "all", "--out", str(root / "run"), *SMALL])
    before = digest(root / "run")
    yield {"run": root / "run", "data": data, "root": root}
    assert digest(root / "run") == before


def edited(tmp_path, data, change, name="bad.csv"):
    """A copy of `data` changed by `change`, which edits the frame or returns a new one."""
    frame = pd.read_csv(data)
    new = change(frame)
    (frame if new is None else new).to_csv(tmp_path / name, index=False)
    return tmp_path / name


def set_cell(row, column, value):
    def change(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    return change


def train(capsys, tmp_path, data, *extra):
    out = tmp_path / "out"
    line = one_line_error(capsys, "train-forecaster", "--data", data, "--out", out, *SMALL,
                          *(extra or ("--target", "all")))
    assert not out.exists() or not (out / "config.json").exists()
    return line


def test_missing_column_lists_the_columns_found(capsys, tmp_path, run):
    line = train(capsys, tmp_path, run["data"], "--target", "price")
    assert "'price'" in line and "time, load, temp" in line


def test_no_target_says_how_to_choose_one(capsys, tmp_path, run):
    line = one_line_error(capsys, "train-forecaster", "--data", run["data"], "--out", tmp_path / "o", *SMALL)
    assert "--target" in line and "load" in line


def test_a_non_numeric_column(capsys, tmp_path, run):
    bad = edited(tmp_path, run["data"], set_cell(7, "temp", "warm"))
    line = train(capsys, tmp_path, bad)
    assert "'temp' is not numeric" in line and "row 8" in line and "'warm'" in line
    assert "numeric columns found: load" in line


def test_empty_cells_are_counted_and_located(capsys, tmp_path, run):
    bad = edited(tmp_path, run["data"], lambda f: f.__setitem__("load", f["load"].where(~f.index.isin([10, 11, 50]))))
    line = train(capsys, tmp_path, bad)
    assert "3 empty or NaN cells" in line and "'load'" in line and "row 11" in line and "--fill" in line


@pytest.mark.parametrize("fill", ["ffill", "interpolate", "drop"])
def test_fill_mends_empty_cells(tmp_path, run, fill):
    bad = edited(tmp_path, run["data"], lambda f: f.__setitem__("load", f["load"].where(f.index % 50 != 7)))
    cli.main(["train-forecaster", "--data", str(bad), "--target", "all", "--fill", fill,
              "--out", str(tmp_path / fill), *SMALL])
    assert (tmp_path / fill / "model.safetensors").exists()


@pytest.mark.parametrize("how,word", [("swap", "backwards"), ("repeat", "repeat")])
def test_timestamps_out_of_order_or_repeated(capsys, tmp_path, run, how, word):
    def change(frame):
        if how == "swap":
            frame.loc[[20, 21], "time"] = frame.loc[[21, 20], "time"].to_numpy()
        else:
            frame.loc[21, "time"] = frame.loc[20, "time"]
    line = train(capsys, tmp_path, edited(tmp_path, run["data"], change))
    assert word in line and "row 22" in line and "sort the file" in line


def test_a_time_cell_that_is_not_a_date(capsys, tmp_path, run):
    line = train(capsys, tmp_path, edited(tmp_path, run["data"], set_cell(3, "time", "soon")))
    assert "not dates" in line and "'soon'" in line


def test_a_series_shorter_than_a_window(capsys, tmp_path, run):
    short = edited(tmp_path, run["data"], lambda f: f.iloc[:40])
    line = train(capsys, tmp_path, short)
    assert "lookback + horizon = 30" in line


@pytest.mark.parametrize("split", ["0.9,0.9", "abc", "5000,10,10", "0.5"])
def test_a_bad_split(capsys, tmp_path, run, split):
    assert "--split-fractions" in train(capsys, tmp_path, run["data"], "--target", "all", "--split-fractions", split)


def test_lookback_not_a_multiple_of_the_segment(capsys, tmp_path, run):
    line = train(capsys, tmp_path, run["data"], "--target", "all", "--lookback", "25")
    assert "--lookback 25 must be a multiple of --seg-len 6" in line


def test_segrnn_with_extra_features(capsys, tmp_path, run):
    assert "--model stacked" in train(capsys, tmp_path, run["data"], "--target", "load", "--features", "temp")


def test_forecast_input_with_other_columns(capsys, tmp_path, run):
    other = edited(tmp_path, run["data"], lambda f: f.rename(columns={"temp": "humidity"}))
    line = one_line_error(capsys, "forecast", run["run"], "--data", other)
    assert "temp" in line and "humidity" in line


def test_forecast_input_with_too_few_rows(capsys, tmp_path, run):
    short = edited(tmp_path, run["data"], lambda f: f.iloc[:10])
    line = one_line_error(capsys, "forecast", run["run"], "--data", short)
    assert "10 rows" in line and "at least 24" in line


def test_forecast_output_in_a_missing_folder(capsys, tmp_path, run):
    line = one_line_error(capsys, "forecast", run["run"], "--data", run["data"], "--output",
                          tmp_path / "nowhere" / "f.csv")
    assert "nowhere" in line


def test_a_forecaster_is_refused_by_text_commands(capsys, run):
    assert "textrnn forecast" in one_line_error(capsys, "sample", run["run"], "--length", "3")
    assert "textrnn forecast" in one_line_error(capsys, "predict", run["run"], "good")


def test_evaluate_with_a_short_or_damaged_file(capsys, tmp_path, run):
    short = edited(tmp_path, run["data"], lambda f: f.iloc[:20])
    assert "lookback + horizon" in one_line_error(capsys, "evaluate", run["run"], "--data", short)
    bad = edited(tmp_path, run["data"], set_cell(3, "load", "??"), "bad2.csv")
    assert "not numeric" in one_line_error(capsys, "evaluate", run["run"], "--data", bad)


def test_python_api_array_of_the_wrong_shape(run):
    f = load(run["run"])
    with pytest.raises(DataError, match=r"\(rows, 2\)"):
        f.forecast(np.zeros((30, 3)))
    with pytest.raises(DataError, match="at least 24"):
        f.forecast(np.zeros((5, 2)))


def test_a_damaged_scaler_file(capsys, tmp_path, run):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(run["run"], copy)
    (copy / "scaler.json").write_text('{"columns": ["a"], "mean": [1], "std": [0]}')
    assert "scaler.json" in one_line_error(capsys, "forecast", copy, "--data", run["data"])


# ---- values and timestamps from real files --------------------------------------------------
def test_a_value_beyond_float32_after_scaling_names_its_row_and_column(capsys, tmp_path, run):
    huge = edited(tmp_path, run["data"], set_cell(395, "temp", 1e40))  # among the last 24 rows read
    line = one_line_error(capsys, "forecast", run["run"], "--data", huge)
    assert "row 396" in line and "'temp'" in line and "float32" in line


def local_times(frame):
    """The hours written in local time across a daylight-saving switch: +01:00, then +02:00."""
    times = pd.date_range("2024-03-30", periods=len(frame), freq="h", tz="Europe/Berlin")
    frame["time"] = [t.isoformat() for t in times]


def test_timestamps_whose_utc_offset_changes_are_read_in_utc(tmp_path, run, caplog):
    data = edited(tmp_path, run["data"], local_times)
    assert {"+01:00", "+02:00"} <= {t[-6:] for t in pd.read_csv(data)["time"]}
    with caplog.at_level("INFO"):
        cli.main(["train-forecaster", "--data", str(data), "--target", "all", "--out", str(tmp_path / "dst"), *SMALL])
    assert "UTC" in caplog.text
    forecast = load(tmp_path / "dst").forecast(data)
    last = pd.Timestamp(pd.read_csv(data)["time"].iloc[-1]).tz_convert("UTC")
    assert forecast["time"].iloc[0] == last + pd.Timedelta("1h")


def iso_mixture(frame):
    """Valid ISO 8601, written three ways: a space, a T, and Python's isoformat() with microseconds."""
    times = pd.date_range("2024-01-01", periods=len(frame), freq="h")
    frame["time"] = [str(t) if i % 3 == 0 else t.isoformat() if i % 3 == 1
                     else t.to_pydatetime().replace(microsecond=250).isoformat() for i, t in enumerate(times)]


def test_iso_8601_timestamps_written_differently_from_the_first_row_are_read(tmp_path, run):
    data = edited(tmp_path, run["data"], iso_mixture)
    cli.main(["train-forecaster", "--data", str(data), "--target", "all", "--out", str(tmp_path / "iso"), *SMALL])
    assert (tmp_path / "iso" / "model.safetensors").is_file()
    assert len(load(tmp_path / "iso").forecast(data)) == 6


@pytest.mark.parametrize("flag,name", [("--output", "config.json"), ("--output", "scaler.json"),
                                       ("--plot", "loss.png"), ("--plot", "model.safetensors")])
def test_a_forecast_written_over_one_of_the_run_s_own_files_is_refused(capsys, run, flag, name):
    line = one_line_error(capsys, "forecast", run["run"], "--data", run["data"], flag, run["run"] / name)
    assert "is a file of the run" in line and name in line


def test_a_forecast_plot_replaces_a_symbolic_link_instead_of_following_it(tmp_path, run):
    target = tmp_path / "precious.csv"
    target.write_text("keep me")
    for flag, name in (("--plot", "f.png"), ("--output", "f.csv")):
        (tmp_path / name).symlink_to(target)
        cli.main(["forecast", str(run["run"]), "--data", str(run["data"]), flag, str(tmp_path / name)])
        assert not (tmp_path / name).is_symlink() and (tmp_path / name).stat().st_size > 0
    assert target.read_text() == "keep me"
