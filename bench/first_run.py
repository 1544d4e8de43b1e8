"""The first fifteen minutes: each recipe's default run exactly as README prints it (no
--quiet, no --overwrite, a fresh time-stamped folder), on two idle cores and again pinned
to one core that a second process keeps busy (`taskset -c 0` for both: about a quarter of
an idle two-core machine, like a laptop busy with another job). Prints one JSON object.

    python bench/first_run.py                                  # every recipe, both conditions
    python bench/first_run.py --recipes generate sentiment --conditions busy
    python bench/first_run.py --conditions other_busy       # the recipe alone on a core, the other busy

Targets, stated before measuring (issue "First impressions on any machine"):
  generate.py   validation at most TARGET_BPC bits per character in both conditions, within
                3 minutes on the busy core; at temperature 0.8, over its 3 samples of 400
                characters, at least 80% of the words (lower-cased alphabetic runs of 2+
                letters, counted per occurrence) are words of its training text.
  sentiment.py  at least 90% on data/everyday_sentiment.csv and 85% on
                data/sentiment_sample.csv (neither used in training or choosing settings);
                under 60 s idle and 3 minutes busy; 0 sentences and 0 word 4-grams shared
                between its training data and the everyday set.
  finetune.py   runs end to end; ULMFiT's test accuracy at least the from-scratch one's.
  timeseries.py runs end to end; multi-step forecast, test MSE beside the baselines'.
  translate.py  runs end to end; validation and test BLEU and exact matches.
  tagging.py    under 2 minutes idle (the issue's limit); span F1 per type on its held-out
                sentences, beside the most-frequent-tag baseline the recipe prints.
  speech.py     under 3 minutes idle (the speech issue's limit); test WER and CER on its 80
                held-out clips.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TARGET_BPC = 2.4
RECIPES = ("generate", "sentiment", "finetune", "timeseries", "translate", "tagging", "speech")
# Where the recipe runs, and where a spinning process keeps a core busy: None = nowhere.
CONDITIONS = {"idle": (None, None),
              "busy": (0, 0),         # both on core 0: about a quarter of the idle machine
              "other_busy": (0, 1)}   # the recipe alone on core 0, core 1 kept busy


@contextmanager
def busy_core(core: int):
    """A process that keeps `core` busy for as long as the block runs."""
    spinner = subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def run(recipe: str, core: int | None, cwd: Path) -> dict:
    """`python recipes/<recipe>.py` with no arguments, in a fresh working folder, pinned to
    `core` unless it is None."""
    cmd = [sys.executable, str(ROOT / "recipes" / f"{recipe}.py")]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    start = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    traceback = "Traceback (most recent call last)" in res.stderr
    folders = sorted((cwd / "runs").glob(f"{recipe}-*")) if (cwd / "runs").exists() else []
    return {"command": f"{'' if core is None else f'taskset -c {core} '}python recipes/{recipe}.py",
            "exit_code": res.returncode, "traceback": traceback, "wall_seconds": round(wall, 1),
            "stdout": res.stdout, "stderr_tail": res.stderr.strip().splitlines()[-3:],
            "run_folder": folders[-1] if folders else None}


def steps_of(run_dir: Path) -> int:
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return max((r.get("step", 0) for r in records), default=0)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]{2,}", text.lower())


def generate_figures(out: dict) -> dict:
    run_dir = out["run_folder"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    sizing = metrics.get("sizing") or {}
    chosen = next((t for t in sizing.get("timed", []) if t["size"] == sizing.get("chosen")), {})
    samples = re.split(r"\n----- sample \d+ -----\n", out["stdout"])[1:]
    known = set(words((DATA / "tiny_play.txt").read_text(encoding="utf-8")))
    said = [w for s in samples for w in words(s)]
    share = sum(w in known for w in said) / max(len(said), 1)
    return {"val_bpc": round(metrics["val"]["bpc"], 4), "steps": steps_of(run_dir),
            "size": sizing.get("chosen"), "hidden_size": sizing.get("hidden_size"),
            "seconds_per_step_timed": chosen.get("seconds_per_step"),
            "word_share": round(share, 4), "words": len(said), "distinct_words": len(set(said)),
            "bpc_target_met": metrics["val"]["bpc"] <= TARGET_BPC, "word_share_target_met": share >= 0.8}


def labelled(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def grams(text: str, n: int = 4) -> set:
    w = re.findall(r"[a-z']+", text.lower())
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def overlap() -> dict:
    """What the demo's training data shares with the everyday set: sentences, word 4-grams."""
    train = [r["text"] for r in labelled(DATA / "sentiment_reviews.csv")]
    everyday = [r["text"] for r in labelled(DATA / "everyday_sentiment.csv")]
    norm = lambda t: " ".join(re.findall(r"[a-z']+", t.lower()))  # noqa: E731
    train_grams = set().union(*(grams(t) for t in train))
    return {"exact_sentences": len({norm(t) for t in train} & {norm(t) for t in everyday}),
            "shared_4grams": len(train_grams & set().union(*(grams(t) for t in everyday)))}


def accuracy(clf, rows: list[dict]) -> float:
    predicted = clf.predict([r["text"] for r in rows])
    return sum(p == r["label"] for p, r in zip(predicted, rows)) / len(rows)


def sentiment_figures(out: dict) -> dict:
    import textrnn

    clf = textrnn.load(out["run_folder"])
    everyday = labelled(DATA / "everyday_sentiment.csv")
    hard = [r for r in everyday if r["kind"] != "plain"]
    figures = {"everyday": round(accuracy(clf, everyday), 4),
               "everyday_negation_or_contrast": round(accuracy(clf, hard), 4),
               "sentiment_sample": round(accuracy(clf, labelled(DATA / "sentiment_sample.csv")), 4),
               "steps": steps_of(out["run_folder"])}
    figures["targets_met"] = figures["everyday"] >= 0.9 and figures["sentiment_sample"] >= 0.85
    return figures


def finetune_figures(out: dict) -> dict:
    found = re.search(r"(test|validation) accuracy: ULMFiT ([\d.]+), from scratch ([\d.]+)", out["stdout"])
    if not found:
        return {"compared": False}
    return {"split": found[1], "ulmfit": float(found[2]), "scratch": float(found[3]),
            "target_met": float(found[2]) >= float(found[3])}


def timeseries_figures(out: dict) -> dict:
    metrics = json.loads((out["run_folder"] / "metrics.json").read_text())
    test = metrics.get("test", {})
    return {"test_mse": test.get("mse"), "baselines_mse": {k: v["mse"] for k, v in test.get("baselines", {}).items()},
            "horizon": json.loads((out["run_folder"] / "config.json").read_text())["head"].get("horizon"),
            "steps": steps_of(out["run_folder"])}


def scores(metrics: dict) -> dict:
    """BLEU and chrF of a split's metrics, or of each decoding it holds (greedy, beam)."""
    if "bleu" in metrics:
        return {k: round(metrics[k], 2) for k in ("bleu", "chrf")}
    return {name: scores(m) for name, m in metrics.items() if isinstance(m, dict) and "signature" not in name}


def translate_figures(out: dict) -> dict:
    metrics = json.loads((out["run_folder"] / "metrics.json").read_text())
    found = re.search(r"exact matches, beam 5: ([\d.]+)%", out["stdout"])
    return {**{split: scores(metrics[split]) for split in ("val", "test") if split in metrics},
            "exact_match_beam5": float(found[1]) / 100 if found else None, "steps": steps_of(out["run_folder"])}


def tagging_figures(out: dict) -> dict:
    metrics = json.loads((out["run_folder"] / "metrics.json").read_text())
    test = metrics.get("test", {})
    found = re.search(r"most-frequent-tag baseline on the same sentences: F1 ([\d.]+)", out["stdout"])
    return {"test_f1": test.get("f1"), "test_f1_per_type": {k: v["f1"] for k, v in test.get("per_type", {}).items()},
            "baseline_f1": float(found[1]) if found else None, "steps": steps_of(out["run_folder"])}


def speech_figures(out: dict) -> dict:
    metrics = json.loads((out["run_folder"] / "metrics.json").read_text())
    test = metrics.get("test", {})
    return {"test_wer": test.get("wer"), "test_cer": test.get("cer"), "clips": test.get("clips"),
            "steps": steps_of(out["run_folder"])}


FIGURES = {"generate": generate_figures, "sentiment": sentiment_figures, "finetune": finetune_figures,
           "timeseries": timeseries_figures, "translate": translate_figures, "tagging": tagging_figures,
           "speech": speech_figures}
TIME_LIMITS = {"busy": {"generate": 180, "sentiment": 180}, "idle": {"sentiment": 60, "tagging": 120, "speech": 180},
               "other_busy": {"generate": 180, "sentiment": 180}}


def measure(recipe: str, condition: str) -> dict:
    core, spinning = CONDITIONS[condition]
    with tempfile.TemporaryDirectory() as tmp:
        with busy_core(spinning) if spinning is not None else nullcontext():
            out = run(recipe, core, Path(tmp))
        result = {k: v for k, v in out.items() if k not in ("stdout", "run_folder")}
        if out["exit_code"] == 0 and out["run_folder"] is not None:
            result.update(FIGURES[recipe](out))
        limit = TIME_LIMITS[condition].get(recipe)
        if limit:
            result["time_limit_seconds"], result["time_limit_met"] = limit, out["wall_seconds"] <= limit
        return result


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    p.add_argument("--conditions", nargs="+", choices=tuple(CONDITIONS), default=["idle", "busy"])
    args = p.parse_args()
    from sample_speed import cpu_name
    report = {"cpu": cpu_name(), "cores": os.cpu_count(), "target_bpc": TARGET_BPC,
              "busy": "the recipe and a spinning process both pinned to core 0",
              "other_busy": "the recipe pinned to core 0, a spinning process to core 1"}
    if "sentiment" in args.recipes:
        report["sentiment_overlap_with_everyday_set"] = overlap()
    for recipe in args.recipes:
        for condition in args.conditions:
            report[f"{recipe}/{condition}"] = measure(recipe, condition)
            print(f"{recipe}/{condition}: {json.dumps(report[f'{recipe}/{condition}'])}", file=sys.stderr)
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
