"""The only writer of a run folder during training: weights, resume state, log lines,
metrics.json, settings and plots. The best weights are also kept in memory, so the end
of a run reports (and hands on) the best model without reading it back from disk."""
import copy
import json
import math
from dataclasses import asdict
from pathlib import Path

from ..checkpoint import (MANIFEST, atomic_write, read_weights, save_pretrained,
                          save_training_state, write_json)
from ..plots import plot_confusion_matrix, plot_loss_curve

LOG_FILE, METRICS_FILE, SETTINGS_FILE = "log.jsonl", "metrics.json", "training_config.json"


class Checkpointer:
    def __init__(self, run_dir, tokenizer):
        self.run_dir, self.tokenizer = Path(run_dir), tokenizer
        self.best_weights = None   # {name: CPU tensor} of the best model so far
        self.best_metrics = None   # its evaluation, when it happened in this process
        self.best_step = None

    def start_fresh(self):
        """Nothing of an earlier run in this folder may vouch for files of this one."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in (LOG_FILE, MANIFEST):
            (self.run_dir / name).unlink(missing_ok=True)

    def resume(self, step: int, has_best: bool):
        """Drop log lines written after the checkpoint (they will be redone) and pick up
        the best weights saved so far."""
        path = self.run_dir / LOG_FILE
        if path.is_file():
            keep = [line for line in path.read_text().splitlines() if _step_of(line) <= step]
            atomic_write(path, lambda tmp: Path(tmp).write_text("".join(k + "\n" for k in keep)))
        if has_best:
            self.best_weights, _ = read_weights(self.run_dir)

    def keep_best(self, model, step: int, metrics: dict):
        save_pretrained(self.run_dir, model, self.tokenizer, step)
        self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self.best_metrics, self.best_step = metrics, step

    def save_state(self, model, step: int, checkpoint: dict):
        """The resume state; the weights too while no evaluation has picked a best model."""
        if self.best_weights is None:
            save_pretrained(self.run_dir, model, self.tokenizer, step)
        save_training_state(self.run_dir, checkpoint)

    def best_model(self, model, step: int):
        """`model` if its weights are the best, else a copy holding the best weights."""
        if self.best_weights is None or self.best_step == step:
            return model
        best = copy.deepcopy(model)
        best.load_state_dict(self.best_weights, strict=False)  # a tied matrix is stored once
        return best

    def log(self, record: dict):
        with open(self.run_dir / LOG_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def write_metrics(self, metrics: dict):
        write_json(self.run_dir / METRICS_FILE, metrics)

    def write_settings(self, data_cfg, train_cfg):
        write_json(self.run_dir / SETTINGS_FILE, {"data": asdict(data_cfg), "training": asdict(train_cfg)})

    def plot_loss(self, unit: str):
        plot_loss_curve(self.run_dir / LOG_FILE, self.run_dir / "loss.png", unit)

    def plot_confusion(self, metrics: dict, split: str, title: str):
        plot_confusion_matrix(metrics["confusion_matrix"], metrics["labels"],
                              self.run_dir / f"confusion_{split}.png", title)


def _step_of(line: str) -> float:
    """The step of a log line; a line cut short by a kill counts as never written."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return math.inf
