"""The founding document's Keras regressor beside textrnn's, same data, batch and epochs.

    python bench/keras_simplernn.py --keras-python /path/to/venv-with-tensorflow/bin/python

Keras (TensorFlow backend) runs in another Python environment, never a dependency of
textrnn. Both train SimpleRNN(50, return_sequences=True) -> SimpleRNN(50) -> Dense(1) with
Adam (1e-3) and mean squared error, batch 32, the same epochs, on the same windows of the
same series (z-scored with its training rows), evaluating on the validation windows after
each epoch and keeping the best epoch's weights. Each trains once per seed (a single
seed's test MSE moves by several percent from seed to seed, for both). Reported: training
samples per second of each (windows x epochs x seeds / seconds in fit, validation
included; textrnn's also covers its test report, plots and checkpoints), their ratio, and
test MSE and MAE on standardised values, per seed and averaged. Prints JSON.
"""
import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import textrnn
from textrnn.data.series import Scaler, Windows, load_series, split_rows
from textrnn.tasks.forecast import SAMPLE
from textrnn.tasks.forecaster import window_batches

ROOT = Path(__file__).resolve().parent.parent
KERAS = r'''
import json, os, sys, time
os.environ.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
import numpy as np, keras
d = np.load(sys.argv[1]); epochs, batch, seed = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keras.utils.set_random_seed(seed)
model = keras.Sequential([keras.Input(d["x_train"].shape[1:]),
                          keras.layers.SimpleRNN(50, return_sequences=True),
                          keras.layers.SimpleRNN(50), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
keep_best = keras.callbacks.EarlyStopping(patience=epochs, restore_best_weights=True)
start = time.perf_counter()
model.fit(d["x_train"], d["y_train"], batch_size=batch, epochs=epochs, verbose=0,
          validation_data=(d["x_val"], d["y_val"]), callbacks=[keep_best])
seconds = time.perf_counter() - start
pred = model.predict(d["x_test"], batch_size=512, verbose=0)
err = pred - d["y_test"]
print(json.dumps({"keras": keras.__version__, "fit_seconds": seconds,
                  "mse": float((err ** 2).mean()), "mae": float(np.abs(err).mean())}))
'''


def windows(data, spec, lookback):
    """(x, y) standardised numpy windows of train, validation and test, horizon 1."""
    series = load_series(data, ["load"])
    ranges = split_rows(len(series.values), spec, lookback, 1)
    scaler = Scaler.fit(series.values[: ranges[0][1]], series.columns)
    values = torch.from_numpy(scaler.transform(series.values)).float()
    out = {}
    for name, (a, b) in zip(("train", "val", "test"), ranges):
        # Keras takes whole arrays: the one place every window is copied out.
        x, y = map(torch.cat, zip(*window_batches(Windows(values[a:b], lookback, 1, 1))))
        out[f"x_{name}"], out[f"y_{name}"] = x.numpy(), y[:, 0].numpy()
    return out


def run_keras(python, arrays, epochs, batch, seed) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "w.npz", **arrays)
        script = Path(tmp) / "keras_side.py"
        script.write_text(KERAS)
        res = subprocess.run([python, str(script), str(Path(tmp) / "w.npz"), str(epochs), str(batch),
                              str(seed)], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"keras side failed: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_textrnn(data, spec, epochs, batch, seed, out) -> dict:
    given = {"data": str(data), "split_fractions": spec, "epochs": epochs, "batch_size": batch, "seed": seed,
             "out": out, "overwrite": True, "quiet": True}
    settings = textrnn.settings_from("forecaster", given, SAMPLE)
    run = settings.prepare()
    start = time.perf_counter()
    result = run.fit(show_progress=False)
    seconds = time.perf_counter() - start
    return {"fit_seconds": seconds, "mse": result["test"]["mse"], "mae": result["test"]["mae"],
            "config": json.loads((Path(out) / "config.json").read_text())}


def summary(runs, samples) -> dict:
    mean = lambda k: sum(r[k] for r in runs) / len(runs)
    return {"samples_per_s": round(samples / sum(r["fit_seconds"] for r in runs)),
            "fit_seconds": [round(r["fit_seconds"], 1) for r in runs],
            "test_mse": [round(r["mse"], 4) for r in runs], "test_mae": [round(r["mae"], 4) for r in runs],
            "mean_test_mse": round(mean("mse"), 4), "mean_test_mae": round(mean("mae"), 4)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--keras-python", required=True, help="a Python with tensorflow and keras")
    p.add_argument("--data", default=str(ROOT / "data" / "hourly_load.csv"))
    p.add_argument("--split-fractions", dest="split", default="0.7,0.1,0.2")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default="runs/bench-keras-simplernn")
    args = p.parse_args()
    lookback = SAMPLE["lookback"]
    arrays = windows(args.data, args.split, lookback)
    n = len(arrays["x_train"])
    keras, ours = [], []
    for seed in args.seeds:  # taking turns, so a slower spell of a shared machine hits both
        keras.append(run_keras(args.keras_python, arrays, args.epochs, args.batch_size, seed))
        ours.append(run_textrnn(args.data, args.split, args.epochs, args.batch_size, seed,
                                f"{args.out}/seed{seed}"))
    samples = n * args.epochs * len(args.seeds)
    k, t = summary(keras, samples), summary(ours, samples)
    print(json.dumps({
        "benchmark": "keras_simplernn", "data": args.data, "train_windows": n, "epochs": args.epochs,
        "batch_size": args.batch_size, "seeds": args.seeds, "keras_version": keras[0]["keras"],
        "keras": k, "textrnn": t,
        "speed_ratio": round(t["samples_per_s"] / k["samples_per_s"], 2),
        "mean_mse_ratio": round(t["mean_test_mse"] / k["mean_test_mse"], 3),
        "textrnn_model": {key: ours[0]["config"][key] for key in ("encoder", "head")},
    }, indent=1))


if __name__ == "__main__":
    main()
