"""Long-term forecasting on ETTh1 (multivariate, lookback 96), every horizon, beside the
published table and, in the same run, the naive forecast, one least-squares linear map and
the founding document's stacked SimpleRNN regressor.

    python bench/forecast_etth1.py --data ETTh1.csv --out runs/bench-etth1

The protocol of Zhou et al. (2021): all 7 channels in and out, rows 8640 / 2880 / 2880 for
train / validation / test, validation and test windows starting 96 rows early, z-score from
the training rows, MSE and MAE on standardised values over every test window (the last
partial batch included). Each horizon trains SegRNN (`textrnn train-forecaster`'s defaults,
bf16 autocast where the CPU has it) for at most --segrnn-budget seconds and the stacked regressor for at most
--stacked-budget, so each stays within 15 minutes of 2 CPU cores. Prints JSON.
"""
import argparse
import json
import sys

from recipe_run import read_run, run_command

# SegRNN's README (L = 96, the test loader keeping its last batch) and the iTransformer paper.
PUBLISHED = {"SegRNN": {96: (0.368, 0.395), 192: (0.408, 0.419), 336: (0.444, 0.440), 720: (0.446, 0.457)},
             "iTransformer": {96: (0.386, 0.405), 192: (0.441, 0.436), 336: (0.487, 0.458), 720: (0.503, 0.491)},
             "DLinear": {96: (0.386, 0.400), 192: (0.437, 0.432), 336: (0.481, 0.459), 720: (0.519, 0.516)},
             "PatchTST": {96: (0.414, 0.419), 192: (0.460, 0.445), 336: (0.501, 0.466), 720: (0.500, 0.488)}}
# bf16 autocast where the CPU has bf16 arithmetic, else fp32 (emulated bf16 is slower).
PROTOCOL = ["--target", "all", "--lookback", "96", "--split-fractions", "8640,2880,2880", "--precision", "auto"]
# The founding document's regressor: SimpleRNN(50) x 2 -> Dense(H x 7), Adam, MSE, batch 32.
STACKED = ["--model", "stacked", "--cell", "rnn", "--hidden-size", "50", "--num-layers", "2",
           "--dropout", "0", "--no-revin", "--loss", "mse", "--batch-size", "32", "--epochs", "30",
           "--patience", "5"]


def train(data, horizon, out, budget, extra) -> dict:
    cmd = ["train-forecaster", "--data", data, *PROTOCOL, "--horizon", str(horizon),
           "--time-budget", str(budget), *extra, "--out", out, "--overwrite", "--quiet"]
    seconds = run_command(cmd)
    run = read_run(out)
    test = run["metrics"]["test"]
    return {"command": "textrnn " + " ".join(cmd), "mse": round(test["mse"], 4),
            "mae": round(test["mae"], 4), "epochs_run": run["log"][-1]["epoch"],
            "train_seconds": run["train_seconds"], "windows_per_s": run["median_tokens_per_s"],
            "total_seconds": round(seconds, 1), "baselines": test["baselines"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="ETTh1.csv")
    p.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    p.add_argument("--segrnn-budget", type=float, default=540.0, help="training seconds per horizon")
    p.add_argument("--stacked-budget", type=float, default=180.0, help="training seconds per horizon")
    p.add_argument("--skip-stacked", action="store_true",
                   help="SegRNN and the closed-form baselines only (e.g. a second cell's run)")
    p.add_argument("--out", default="runs/bench-etth1")
    p.add_argument("extra", nargs="*", help="more train-forecaster flags for SegRNN, after --")
    args = p.parse_args()
    rows = []
    for h in args.horizons:
        seg = train(args.data, h, f"{args.out}/segrnn-{h}", args.segrnn_budget, args.extra)
        rnn = None if args.skip_stacked else train(args.data, h, f"{args.out}/stacked-{h}",
                                                   args.stacked_budget, STACKED)
        base = seg.pop("baselines")
        if rnn is not None:
            rnn.pop("baselines")
        rows.append({"horizon": h, "segrnn": seg, "stacked_simplernn": rnn,
                     "naive": {k: round(v, 4) for k, v in base["naive"].items()},
                     "least_squares_linear": {k: round(v, 4) for k, v in base["linear"].items()},
                     "published": {name: dict(zip(("mse", "mae"), t[h])) for name, t in PUBLISHED.items()
                                   if h in t},
                     "minutes": round((seg["total_seconds"] + (rnn or {}).get("total_seconds", 0)) / 60, 1)})
        print(json.dumps(rows[-1]), file=sys.stderr)  # progress, a horizon at a time
    print(json.dumps({"benchmark": "forecast_etth1", "data": args.data, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
