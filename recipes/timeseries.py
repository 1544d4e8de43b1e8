"""Forecast a numeric series with a recurrent network, then score it against the baselines.

    python recipes/timeseries.py                  # the bundled hourly series, a day ahead
    python recipes/timeseries.py --model stacked  # the founding document's Keras model
    python recipes/timeseries.py --data ETTh1.csv --target all --split-fractions 8640,2880,2880

With no data given, SegRNN (Lin et al. 2023) forecasts the bundled series' next 24 hours
from the week before them. --model stacked is the founding document's regressor instead:
SimpleRNN(50) returning sequences, SimpleRNN(50), Dense(1), the next hour from the two days
before; Adam, mean squared error, batch 32. Given a series, it is `textrnn
train-forecaster` (SegRNN); every flag of that command works here.
"""
from pathlib import Path

import textrnn

HELP = (" With no --data: the bundled hourly series, 24 hours ahead (SegRNN); --model stacked: "
        "the founding document's one-step Keras model on it.")


def main(settings):
    # 1. The series: columns checked, split in time order (70/10/20 by default), each
    #    channel z-scored with the training rows' mean and spread.
    run = settings.prepare()

    # 2. Training: the one loop; the epoch with the lowest validation MSE is kept.
    result = textrnn.exit_if_interrupted(run.fit(show_progress=not settings.run.quiet))

    # 3. The test split: the model beside forecasts that need no training.
    test = result["test"]
    print(f"test windows: {test['windows']} (MSE and MAE on standardised values)")
    print(f"{'':>16} {'MSE':>8} {'MAE':>8}")
    print(f"{'this model':>16} {test['mse']:8.4f} {test['mae']:8.4f}")
    for name, score in test["baselines"].items():
        print(f"{name.replace('_', ' '):>16} {score['mse']:8.4f} {score['mae']:8.4f}")
    beaten = [n for n, b in test["baselines"].items() if test["mse"] < b["mse"]]
    print(f"beats: {', '.join(beaten) or 'none'}; in the data's units MSE "
          f"{test['mse_original']:.4g}, MAE {test['mae_original']:.4g}")

    # 4. The saved run folder, loaded as `textrnn forecast` would: the next rows after the
    #    series' end (timestamps at the data's resolution), and the plot of the test
    #    split's end, forecast against the truth.
    forecaster = textrnn.load(result["run_dir"])
    print(f"\nnext {forecaster.horizon} row(s) after the data:")
    print(forecaster.forecast_table(settings.data.data).to_string(index=False))
    print(f"\nrun folder: {result['run_dir']} (forecast against truth: "
          f"{Path(result['run_dir']) / 'forecast.png'})")


if __name__ == "__main__":
    settings = textrnn.parse_settings("forecaster", description=__doc__.split("\n")[0] + HELP,
                                      preset=textrnn.presets.for_recipe("forecaster", "timeseries"))
    textrnn.run_guarded(main, settings, debug=settings.run.debug)
