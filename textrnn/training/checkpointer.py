"""The only writer of a run folder during training: weights, resume state, log lines,
metrics.json, settings and plots. The best weights are also kept in memory, so the end
of a run reports (and hands on) the best model without reading it back from disk. Under
torchrun every rank keeps the best weights, and only rank 0 (`writes`) touches files."""
import copy
import functools
import json
import logging
import math
from dataclasses import asdict
from pathlib import Path

from ..checkpoint import read_weights, save_config, save_pretrained, save_training_state, weights_header
from ..data.ids import CACHED_IDS
from ..files import TEMPORARY, append_line, atomic_write, remove, write_json, write_text
from ..errors import first_line
from ..manifest import new_run_id, record_files, run_id_of, start_run
from ..model_card import write_card
from ..plots import plot_confusion_matrix, plot_loss_curve, plot_reliability
from ..run_files import EXPORTED, LOCK, LOG, LOSS_PLOT, MANIFEST, METRICS, SETTINGS, TOKENS, holds_run
from ..tasks import run_files

log = logging.getLogger("textrnn")


def foreign_entries(folder) -> list[str]:
    """The entries of `folder` that textrnn did not write. Its own: the lock and a token
    cache (one a refused start may have left); in a folder that holds a run, also every
    run file's name, an export beside the weights and the leftovers of interrupted writes."""
    folder = Path(folder)
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    own = {LOCK, TOKENS} if _token_cache(folder / TOKENS) else {LOCK}
    if holds_run(folder):
        own |= run_files() | {MANIFEST, EXPORTED} | {n for n in names if TEMPORARY.match(n)}
    return sorted(names - own)


def _token_cache(path: Path) -> bool:
    """Whether `path` is a folder holding token-cache files and nothing else."""
    return path.is_dir() and not path.is_symlink() and all(
        p.is_file() and (CACHED_IDS.match(p.name) or TEMPORARY.match(p.name)) for p in path.iterdir())


def rank0_only(method):
    """A method that only writes: a no-op where this process does not write (`writes`)."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if self.writes:
            method(self, *args, **kwargs)
    return guarded


class Checkpointer:
    def __init__(self, run_dir, tokenizer, writes: bool = True):
        self.run_dir, self.tokenizer, self.writes = Path(run_dir), tokenizer, writes
        self.best_weights = None   # {name: CPU tensor} of the best model so far
        self.best_metrics = None   # its evaluation, when it happened in this process
        self.best_step = None
        self.run_id = None
        self.plots = []  # (file name, draw) to draw once the metrics are written
        self.sizing = None  # --size auto's record, reported with the metrics

    def start_fresh(self) -> str:
        """A new run, with a new id: its manifest comes first, so from then on nothing an
        earlier run left here passes for this run's (a run folder replaced with --overwrite
        is never a silent mix of two runs, even if the process is killed at any point);
        then the earlier run's files go."""
        self.run_id = new_run_id()
        if not self.writes:
            return self.run_id
        self.run_dir.mkdir(parents=True, exist_ok=True)
        earlier = run_files() if holds_run(self.run_dir) else set()  # before the manifest makes it one
        start_run(self.run_dir, self.run_id)
        for name in sorted(earlier):
            remove(self.run_dir / name)
        return self.run_id

    def resume(self, state) -> str:
        """Continue run `state.run_id` (runs of textrnn 0.1.0 had none: the folder's, or a
        new one); drop log lines written after the checkpoint (they will be redone); pick
        up the best weights saved so far."""
        self.run_id = state.run_id or run_id_of(self.run_dir) or new_run_id()
        path = self.run_dir / LOG
        if self.writes and path.is_file():
            keep = [line for line in path.read_text().splitlines() if _step_of(line) <= state.step]
            write_text(path, "".join(k + "\n" for k in keep))
        if state.best is not None:
            self.best_weights, _ = read_weights(self.run_dir)
        return self.run_id

    def keep_best(self, model, step: int, metrics: dict):
        if self.writes:
            save_pretrained(self.run_dir, model, self.tokenizer, step, self.run_id, card=False)
        self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self.best_metrics, self.best_step = metrics, step

    @rank0_only
    def save_state(self, model, step: int, checkpoint: dict):
        """The resume state; the weights too while no evaluation has picked a best model."""
        if self.best_weights is None:
            save_pretrained(self.run_dir, model, self.tokenizer, step, self.run_id, card=False)
        save_training_state(self.run_dir, checkpoint)

    @rank0_only
    def save_kept(self, model):
        """Write the kept model's config again after a setting chosen at the end of training
        changed it (a translator's length penalty); its weights stay as saved."""
        _, step, _ = weights_header(self.run_dir)
        save_config(self.run_dir, model, self.tokenizer, step, self.run_id)

    def best_model(self, model, step: int):
        """`model` if its weights are the best, else a copy holding the best weights."""
        if self.best_weights is None or self.best_step == step:
            return model
        best = copy.deepcopy(model)
        best.load_state_dict(self.best_weights, strict=False)  # a tied matrix is stored once
        return best

    @rank0_only
    def log(self, record: dict):
        append_line(self.run_dir / LOG, json.dumps(record))

    @rank0_only
    def write_metrics(self, metrics: dict):
        sizing = {"sizing": self.sizing} if self.sizing else {}
        write_json(self.run_dir / METRICS, {**metrics, **sizing})

    @rank0_only
    def write_settings(self, data_cfg, train_cfg, held: dict, sizing: dict | None = None):
        """The run's data and training settings, what its training data held
        (same_run.training_data), for --resume, and --size auto's choice (also reported in
        metrics.json)."""
        self.sizing = sizing
        write_json(self.run_dir / SETTINGS, {"data": asdict(data_cfg), "training": asdict(train_cfg),
                                             "training_data": held, "sizing": sizing})

    def plot(self, name: str, draw):
        """A plot to save: `draw(path)` writes the PNG. Plots are drawn after metrics.json is
        written (`draw_plots`), so the figures are safe whatever drawing costs."""
        self.plots.append((name, draw))

    @rank0_only
    def draw_plots(self):
        """Draw the plots asked for, each atomically and listed in the manifest; a plot that
        fails (memory, a full disk, a drawing library's error) is one log line, not the end
        of a run whose results are already saved."""
        plots, self.plots = self.plots, []
        for name, draw in plots:
            try:
                atomic_write(self.run_dir / name, draw)
                record_files(self.run_dir, 0, [name], self.run_id)
            except Exception as exc:  # a plot is a view of saved results, never worth them
                log.warning("could not draw %s (%s: %s); metrics.json holds its figures",
                            name, type(exc).__name__, first_line(exc))

    @rank0_only
    def write_card(self):
        """The model card (README.md), from the files written so far; like a plot, a card
        that fails is one log line (model_card.write_card)."""
        write_card(self.run_dir)

    def plot_loss(self, unit: str):
        self.plot(LOSS_PLOT, lambda tmp: plot_loss_curve(self.run_dir / LOG, tmp, unit))

    def plot_confusion(self, metrics: dict, split: str, title: str):
        self.plot(f"confusion_{split}.png", lambda tmp: plot_confusion_matrix(
            metrics["confusion_matrix"], metrics["labels"], tmp, title))

    def plot_reliability(self, name: str, curves: dict, title: str):
        self.plot(name, lambda tmp: plot_reliability(curves, tmp, title))


def _step_of(line: str) -> float:
    """The step of a log line; a line cut short by a kill counts as never written."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return math.inf
