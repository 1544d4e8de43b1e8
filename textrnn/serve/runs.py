"""The run folders a server holds, by name, and the batcher of each language model."""
from pathlib import Path

from ..checkpoint import load
from ..errors import ConfigError
from ..models.stepper import cached_stepper
from .batcher import StepBatcher

# A task's endpoint under /v1; a new task served is one entry here plus its route.
ENDPOINTS = {"lm": "generate", "classifier": "classify", "forecaster": "forecast",
             "translator": "translate"}


class ApiError(Exception):
    """A request the server refuses: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def load_runs(run_dirs, device: str) -> dict:
    """name -> loaded run, each name its folder's own (a repeated one gets -2, -3, ...)."""
    if not run_dirs:
        raise ConfigError("no run folder to serve; pass one or more, e.g. textrnn serve runs/shakespeare")
    runs = {}
    for folder in run_dirs:
        run = load(folder, device)
        if run.config.task not in ENDPOINTS:
            raise ConfigError(f"{folder} holds a {run.config.task} model, which the server "
                              f"cannot serve yet; it serves {', '.join(ENDPOINTS)}")
        base = Path(folder).resolve().name or "model"
        name, n = base, 1
        while name in runs:
            n += 1
            name = f"{base}-{n}"
        runs[name] = run
    return runs


class Runs:
    def __init__(self, runs: dict, cfg):
        self.runs, self.cfg = runs, cfg
        self.batchers: dict[str, StepBatcher] = {}
        # The steppers are built now (the batchers reuse them), so weights or an engine that
        # a model cannot run are refused in one line before the server starts.
        for run in runs.values():
            if run.config.task == "lm":
                cached_stepper(run.model, cfg.weights, cfg.engine)

    def start(self, publish) -> None:
        """A batcher per language model; `publish` as StepBatcher takes it."""
        for name, run in self.runs.items():
            if run.config.task == "lm":
                self.batchers[name] = StepBatcher(run, publish, self.cfg.weights, self.cfg.max_streams,
                                                  self.cfg.max_waiting, self.cfg.engine).start()

    def close(self) -> None:
        for b in self.batchers.values():
            b.close()

    def pick(self, name: str | None, task: str):
        """(name, run) for a request to `task`'s endpoint."""
        if name is None:
            mine = [n for n, r in self.runs.items() if r.config.task == task]
            if len(mine) != 1:
                raise ApiError(422, f"name the model: this server holds {len(mine)} for "
                               f"/v1/{ENDPOINTS[task]} ({', '.join(mine) or 'none'})")
            name = mine[0]
        if name not in self.runs:
            raise ApiError(404, f"no model {name!r}; this server holds {', '.join(self.runs)}")
        have = self.runs[name].config.task
        if have != task:
            raise ApiError(422, f"{name} is a {self.runs[name].noun}; send it to "
                           f"/v1/{ENDPOINTS[have]}")
        return name, self.runs[name]

    def describe(self) -> list[dict]:
        return [describe(name, run) for name, run in self.runs.items()]


def describe(name: str, run) -> dict:
    """What GET /v1/models says of a run: its task, endpoint, step and config."""
    task = run.config.task
    info = {"name": name, "task": task, "kind": run.noun, "endpoint": f"/v1/{ENDPOINTS[task]}",
            "step": run.step, "config": run.config.to_dict()}
    if task == "classifier":
        info["labels"] = run.labels
    if task == "forecaster":
        info.update(columns=list(run.scaler.columns), targets=run.targets,
                    lookback=run.lookback, horizon=run.horizon)
    return info
