"""The run folders a server holds, by name, and the step batcher of each run whose task
generates step by step (its endpoint's `stepped`)."""

from ..checkpoint import load
from ..hub import display_name
from ..errors import ConfigError
from ..inference.engines import cached_stepper
from ..tasks import TASKS, task_of
from .batcher import StepBatcher


class ApiError(Exception):
    """A request the server refuses: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def load_runs(run_dirs, device: str) -> dict:
    """name -> loaded run, each name its folder's own or its Hub model's (a repeated one gets
    -2, -3, ...)."""
    if not run_dirs:
        raise ConfigError("no run folder to serve; pass one or more, e.g. textrnn serve runs/shakespeare")
    runs = {}
    for folder in run_dirs:
        run = load(folder, device)
        if task_of(run).endpoint is None:
            served = ", ".join(t.Loaded.noun for t in TASKS.values() if t.endpoint is not None)
            raise ConfigError(f"{folder} holds a {run.noun}, which the server cannot serve yet; "
                              f"it serves a {served}")
        base = display_name(folder)
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
        for _, run in self.stepped():
            cached_stepper(run.model, cfg.weights, cfg.engine)

    def stepped(self) -> list[tuple]:
        """(name, run) of the runs that generate step by step (their endpoint's `stepped`)."""
        return [(n, run) for n, run in self.runs.items() if task_of(run).endpoint.stepped]

    def start(self, publish) -> None:
        """A batcher per run that generates step by step; `publish` as StepBatcher takes it."""
        for name, run in self.stepped():
            self.batchers[name] = StepBatcher(run, publish, self.cfg.weights, self.cfg.max_streams,
                                              self.cfg.max_waiting, self.cfg.engine).start()

    def close(self) -> None:
        for b in self.batchers.values():
            b.close()

    def pick(self, name: str | None, task) -> tuple:
        """(name, run) for a request to `task`'s endpoint."""
        if name is None:
            mine = self.require(task)
            if len(mine) > 1:
                raise ApiError(422, f"name the model: this server holds {len(mine)} runs for "
                               f"/v1/{task.endpoint.path} ({', '.join(mine)}); send \"model\" with one")
            name = mine[0]
        if name not in self.runs:
            raise ApiError(404, f"no model {name!r}; this server holds {', '.join(self.runs)}")
        run = self.runs[name]
        if task_of(run) is not task:
            raise ApiError(422, f"{name} is a {run.noun}; send it to /v1/{task_of(run).endpoint.path}")
        return name, run

    def require(self, task) -> list[str]:
        """The names of the runs of `task` this server holds; none is a 404 that says what to
        serve (in the words of the task's noun, so no task is named here)."""
        mine = [n for n, r in self.runs.items() if task_of(r) is task]
        if not mine:
            noun = task.Loaded.noun
            held = ", ".join(f"{n} (a {r.noun})" for n, r in self.runs.items())
            raise ApiError(404, f"no {noun} is being served, so /v1/{task.endpoint.path} cannot "
                           f"answer: this server holds {held}; to use it, pass a {noun}'s run "
                           "folder to textrnn serve")
        return mine

    def describe(self, inputs) -> list[dict]:
        """What GET /v1/models says of each run; `inputs(task)`: its request's fields."""
        return [describe(name, run, inputs) for name, run in self.runs.items()]


def describe(name: str, run, inputs) -> dict:
    """A run's task, endpoint, step and config, what its task adds (run.info()), its page
    panel (a script's address, or None for the generic form) and its request's fields."""
    task = task_of(run)
    ep = task.endpoint
    return {"name": name, "task": task.name, "kind": run.noun, "endpoint": f"/v1/{ep.path}",
            "step": run.step, "config": run.config.to_dict(),
            "panel": f"/panels/{task.name}.js" if ep.panel else None, "inputs": inputs(task),
            **run.info()}
