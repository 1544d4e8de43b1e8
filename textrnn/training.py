"""The one training loop, for every task: progress, clipping, schedule, evaluation,
best-model saving, time budgets, signals, NaN guards and exact resume."""
import json
import logging
import math
import random
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import (MANIFEST, atomic_write, load_pretrained, load_training_state,
                         save_pretrained, save_training_state, write_json)
from .device import autocast
from .errors import CheckpointError, ConfigError, TrainingDiverged, check_range
from .plots import plot_loss_curve

log = logging.getLogger("textrnn")

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant", "plateau", "stlr")
LOG_FILE, METRICS_FILE = "log.jsonl", "metrics.json"


@dataclass
class TrainConfig:
    """Optimisation settings. A run ends at the first limit reached (epochs, steps, time)."""
    batch_size: int = 64
    bptt: int = 128                  # language models: tokens per truncated-BPTT window
    lr: float = 3e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    momentum: float = 0.9            # sgd only
    schedule: str = "cosine"         # cosine decay after warmup, constant, plateau halving, or stlr
    warmup_steps: int = 100
    final_lr_ratio: float = 0.05     # cosine ends at lr * this
    clip: float = 1.0                # max gradient norm; 0 turns clipping off
    epochs: int = 0                  # 0: no epoch limit
    max_steps: int = 0               # 0: no step limit
    time_budget: float = 0.0         # seconds of training (periodic evaluation included); 0: none
    eval_every: int = 500            # steps; 0: at the end of each epoch
    save_every: int = 500            # steps; 0: at the end of each epoch
    log_every: int = 20
    patience: int = 0                # stop after this many evaluations without improvement; 0: never
    discriminative_lr: float = 1.0   # layer group k below the top trains at lr / this**k (ULMFiT: 2.6)
    gradual_unfreezing: bool = False  # epoch e trains only the top e+1 layer groups (ULMFiT)
    unfreeze_warmup: float = 0.0     # epochs over which an unfrozen group's rate rises; 0: at once
    seed: int = 1234
    device: str = "auto"
    precision: str = "fp32"

    def validate(self) -> "TrainConfig":
        for name in ("batch_size", "bptt"):
            check_range(name.replace("_", "-"), getattr(self, name), 1, 1 << 20)
        check_range("log-every", self.log_every, 1)
        for name in ("eval_every", "save_every"):  # 0: at the end of each epoch; huge: never
            check_range(name.replace("_", "-"), getattr(self, name), 0)
        for name in ("epochs", "max_steps", "patience"):  # 0: no limit
            check_range(name.replace("_", "-"), getattr(self, name), 0)
        check_range("warmup-steps", self.warmup_steps, 0, 10**9)
        check_range("lr", self.lr, 0, 1000, low_open=True)
        check_range("weight-decay", self.weight_decay, 0, 100)
        check_range("clip", self.clip, 0, 1e6)
        check_range("seed", self.seed, 0, 2**32 - 1)  # numpy's seed range
        check_range("time-budget", self.time_budget, 0, 1e9)
        check_range("final-lr-ratio", self.final_lr_ratio, 0, 1)
        check_range("discriminative-lr", self.discriminative_lr, 1, 100)
        check_range("unfreeze-warmup", self.unfreeze_warmup, 0, 100)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}")
        if not (self.epochs or self.max_steps or self.time_budget):
            raise ConfigError("no stopping rule: set --epochs, --max-steps or --time-budget")
        return self


class Schedule:
    """Learning-rate factor: linear warmup, then cosine decay over the run's progress
    (Loshchilov & Hutter 2017), a constant, or halving when validation stalls."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.scale, self.bad_evals = 1.0, 0

    def factor(self, step: int, progress: float) -> float:
        if self.cfg.schedule == "stlr":
            return slanted_triangular(progress)
        warm = min(1.0, (step + 1) / self.cfg.warmup_steps) if self.cfg.warmup_steps else 1.0
        if self.cfg.schedule == "cosine":
            r = self.cfg.final_lr_ratio
            return warm * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))
        return warm * self.scale

    def on_eval(self, improved: bool):
        if self.cfg.schedule != "plateau":
            return
        self.bad_evals = 0 if improved else self.bad_evals + 1
        if self.bad_evals >= 2:
            self.scale, self.bad_evals = self.scale * 0.5, 0

    def state_dict(self):
        return {"scale": self.scale, "bad_evals": self.bad_evals}

    def load_state_dict(self, state):
        self.scale, self.bad_evals = state["scale"], state["bad_evals"]


def slanted_triangular(progress: float, cut: float = 0.1, ratio: float = 32.0) -> float:
    """STLR (Howard & Ruder 2018): a short linear rise over the first `cut` of training,
    then a long linear decay to 1/ratio of the peak."""
    p = min(max(progress, 0.0), 1.0)
    p = p / cut if p < cut else 1 - (p - cut) / (1 - cut)
    return (1 + p * (ratio - 1)) / ratio


def unfreeze_ramp(group: dict, step: int) -> float:
    """Rate factor of a layer group unfrozen mid-run: a linear rise over its ramp steps.
    Its Adam moments start at zero, and Adam's first steps then move every weight by about
    the full rate whatever its gradient; at the schedule's peak that undoes the pretrained
    layer (the same cause as Adam's need for warmup, Liu et al. 2020)."""
    ramp = group.get("ramp_steps", 0)
    return min(1.0, (step - group["unfrozen_at"] + 1) / ramp) if ramp else 1.0


def make_optimizer(model, cfg: TrainConfig):
    """One parameter group per layer group when discriminative rates or unfreezing are on
    (group k below the top gets lr / discriminative_lr**k), else a single group."""
    if cfg.discriminative_lr != 1.0 or cfg.gradual_unfreezing:
        layers = model.layer_groups()  # bottom -> top
        n = len(layers)
        groups = [{"params": ps, "base_lr": cfg.lr / cfg.discriminative_lr ** (n - 1 - i)}
                  for i, ps in enumerate(layers)]
    else:
        groups = [{"params": list(model.parameters()), "base_lr": cfg.lr}]
    for g in groups:
        g["lr"] = g["base_lr"]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    # Plain types and tensors only, so `torch.load(weights_only=True)` accepts the file.
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict):
    random.setstate(_tuples(state["python"]))
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(x):
    # weights_only unpickling may return lists where the RNG setters insist on tuples.
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


class _StopSignals:
    """Turn SIGINT/SIGTERM into a flag so the loop can save before it exits."""

    def __init__(self):
        self.received = None

    def __enter__(self):
        self.old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.received is not None:  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        self.received = signum

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)


class Trainer:
    """Runs `task` on `model`, writing the run folder `run_dir`.

    `fit()` returns {"status": "done" | "interrupted" | "stopped", "metrics": {...}}.
    """

    def __init__(self, model, task, cfg: TrainConfig, run_dir, tokenizer, device,
                 precision="fp32", resume=False, show_progress=True):
        self.model, self.task, self.cfg = model, task, cfg.validate()
        self.run_dir, self.tokenizer = Path(run_dir), tokenizer
        self.device, self.precision = device, precision
        self.opt = make_optimizer(model, cfg)
        self.schedule = Schedule(cfg)
        self.show_progress = show_progress
        self.step, self.epoch, self.batch_index = 0, 0, 0
        self.elapsed, self.best, self.carry = 0.0, None, None
        self.clipped, self.saved_step = 0, None
        self.last_eval = None  # (step, metrics) of the latest evaluation in this process
        self.window_loss, self.window_steps = 0.0, 0  # training loss since the last log line
        self.evals_without_gain = 0  # for early stopping
        if resume:
            self._restore(load_training_state(self.run_dir))
        else:  # a fresh run: nothing of an earlier run in this folder may vouch for files
            for name in (LOG_FILE, MANIFEST):
                (self.run_dir / name).unlink(missing_ok=True)

    # ---- state ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "optimizer": self.opt.state_dict(), "schedule": self.schedule.state_dict(),
                "step": self.step, "epoch": self.epoch, "batch_index": self.batch_index,
                "elapsed": self.elapsed, "best": self.best, "clipped": self.clipped,
                "window": [self.window_loss, self.window_steps],
                "evals_without_gain": self.evals_without_gain,
                "carry": self.carry, "rng": rng_state(), "train_config": asdict(self.cfg)}

    def _restore(self, state: dict):
        try:
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"training_state.pt in {self.run_dir} does not fit this model "
                                  f"({str(exc).splitlines()[0][:150]}); resume with the settings "
                                  "the run was started with") from None
        self.schedule.load_state_dict(state["schedule"])
        self.step, self.epoch, self.batch_index = state["step"], state["epoch"], state["batch_index"]
        self.elapsed, self.best, self.clipped = state["elapsed"], state["best"], state["clipped"]
        self.window_loss, self.window_steps = state["window"]
        self.evals_without_gain = state["evals_without_gain"]
        self.carry = _to_device(state["carry"], self.device)
        set_rng_state(state["rng"])
        self.saved_step = self.step
        self._truncate_log()

    def _truncate_log(self):
        """Drop log lines written after the checkpoint we resume from (they will be redone)."""
        path = self.run_dir / LOG_FILE
        if path.is_file():
            keep = [line for line in path.read_text().splitlines() if _step_of(line) <= self.step]
            atomic_write(path, lambda tmp: Path(tmp).write_text("".join(k + "\n" for k in keep)))

    def save(self):
        """Write the resume state (and weights, if no best model exists yet)."""
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise TrainingDiverged(f"weights became NaN/inf at step {self.step}; not saved; "
                                   f"lower --lr or set --clip")
        if self.best is None:
            save_pretrained(self.run_dir, self.model, self.tokenizer, self.step)
        save_training_state(self.run_dir, self.state_dict())
        self.saved_step = self.step

    # ---- the loop ------------------------------------------------------------------
    def _progress(self) -> float:
        c, parts = self.cfg, []
        if c.max_steps:
            parts.append(self.step / c.max_steps)
        if c.epochs:
            n = max(self.task.num_batches(self.epoch), 1)
            parts.append((self.epoch + self.batch_index / n) / c.epochs)
        if c.time_budget:
            parts.append(self.elapsed / c.time_budget)
        return max(parts)

    def _finished(self) -> bool:
        c = self.cfg
        return bool((c.max_steps and self.step >= c.max_steps)
                    or (c.epochs and self.epoch >= c.epochs)
                    or (c.time_budget and self.elapsed >= c.time_budget))

    def _apply_unfreezing(self):
        """Gradual unfreezing (Howard & Ruder 2018): in epoch e only the top e+1 layer groups
        train, so the fresh head settles before it sends gradients into pretrained layers."""
        if not self.cfg.gradual_unfreezing:
            return
        groups = self.opt.param_groups
        first_trained = max(0, len(groups) - 1 - self.epoch)
        for i, g in enumerate(groups):
            for p in g["params"]:
                p.requires_grad_(i >= first_trained)
        g = groups[first_trained]
        if self.epoch > 0 and "unfrozen_at" not in g:
            # Kept in the optimizer's state, so a resumed run ramps exactly as before.
            g["unfrozen_at"] = self.step
            g["ramp_steps"] = round(self.cfg.unfreeze_warmup * self.task.num_batches(self.epoch))

    def _set_lr(self):
        f = self.schedule.factor(self.step, self._progress())
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * f * unfreeze_ramp(g, self.step)

    def train_step(self, batch):
        """One optimiser step; returns (loss value, gradient norm)."""
        self._set_lr()
        with autocast(self.device, self.precision):
            loss, self.carry = self.task.loss(self.model, batch, self.carry, self.device)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in self.opt.param_groups for p in g["params"] if p.grad is not None]
        if self.cfg.clip:
            # Gradient-norm clipping (Pascanu et al. 2013): exploding gradients get rescaled
            # instead of throwing the weights far away.
            norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.clip).item()
            self.clipped += norm > self.cfg.clip
        else:
            norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in params if p.grad is not None))
        value = loss.item()
        if not (math.isfinite(value) and math.isfinite(norm)):
            where = (f"the checkpoint of step {self.saved_step} in {self.run_dir} is intact"
                     if self.saved_step is not None else "nothing was saved")
            raise TrainingDiverged(f"loss became {value} at step {self.step + 1}; lower --lr "
                                   f"(now {self.cfg.lr}) or set --clip; {where}")
        self.opt.step()
        self.step += 1
        return value, norm


    def _better(self, value) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.task.mode == "min" else value > self.best

    def _log(self, record: dict):
        with open(self.run_dir / LOG_FILE, "a") as f:
            f.write(json.dumps(record) + "\n")

    def _eval_and_keep_best(self) -> dict:
        metrics = self.task.evaluate(self.model, self.device, self.precision)
        value = metrics[self.task.metric]
        improved = self._better(value)
        if improved:
            self.best = value
            save_pretrained(self.run_dir, self.model, self.tokenizer, self.step)
        self.schedule.on_eval(improved)
        self._log({"step": self.step, "epoch": self.epoch, "elapsed": round(self.elapsed, 2),
                   "val": metrics, "best": self.best})
        self.last_eval = (self.step, metrics)
        return metrics

    def _progress_bar(self):
        c = self.cfg
        if c.time_budget:  # the bar counts seconds, so its ETA is the budget's end
            bar = tqdm(total=c.time_budget, disable=not self.show_progress, dynamic_ncols=True,
                       bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}s [{elapsed}<{remaining}{postfix}]")
            bar.update(self.elapsed)
            return bar
        total = c.max_steps or None
        if c.epochs:
            epoch_steps = c.epochs * self.task.num_batches(0)
            total = min(total, epoch_steps) if total else epoch_steps
        return tqdm(total=total, initial=self.step, unit="step", disable=not self.show_progress,
                    dynamic_ncols=True)

    def fit(self) -> dict:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.model.train()
        self.bar = self._progress_bar()
        self.window_tokens, self.t_window = 0, time.perf_counter()
        with _StopSignals() as self.signals:
            while not self._finished() and not self._stopping():
                self._run_epoch()
            self.bar.close()
            if self.signals.received is not None:
                self.save()
                log.warning("interrupted at step %d; saved to %s; continue with --resume",
                            self.step, self.run_dir)
                return {"status": "interrupted", "signal": self.signals.received, "step": self.step}
        return self._finish("stopped" if self._early_stop() else "done")

    def _stopping(self) -> bool:
        return self.signals.received is not None or self._early_stop()

    def _early_stop(self) -> bool:
        return bool(self.cfg.patience and self.evals_without_gain >= self.cfg.patience)

    def _run_epoch(self):
        n = self.task.num_batches(self.epoch)
        if self.batch_index == 0:
            self.carry = None  # a new pass over the data starts from a fresh state
        self._apply_unfreezing()
        while self.batch_index < n and not self._finished():
            self._one_step()
            if self._stopping():
                return
        self.epoch, self.batch_index = self.epoch + 1, 0

    def _one_step(self):
        """Train on the next batch, then log, evaluate and save when their turn comes."""
        t0 = time.perf_counter()
        batch = self.task.batch(self.epoch, self.batch_index)
        loss, norm = self.train_step(batch)
        self.batch_index += 1
        self.window_loss += loss
        self.window_steps += 1
        self.window_tokens += self.task.tokens(batch)
        dt = time.perf_counter() - t0
        self.elapsed += dt
        self.bar.update(dt if self.cfg.time_budget else 1)
        if self.step % self.cfg.log_every == 0:
            self._log_training(norm)
        if self._due(self.cfg.eval_every):
            t0 = time.perf_counter()
            before = self.best
            self._eval_and_keep_best()
            self.evals_without_gain = 0 if self.best != before else self.evals_without_gain + 1
            self.elapsed += time.perf_counter() - t0  # the budget covers periodic evaluation
            self.t_window = time.perf_counter()
        if self._due(self.cfg.save_every):
            self.save()

    def _due(self, every: int) -> bool:
        """Every `every` steps, or after the epoch's last batch when `every` is 0."""
        if every:
            return self.step % every == 0
        return self.batch_index == self.task.num_batches(self.epoch)

    def _log_training(self, norm: float):
        now = time.perf_counter()
        rate = self.window_tokens / max(now - self.t_window, 1e-9)
        record = {"step": self.step, "epoch": self.epoch, "loss": self.window_loss / self.window_steps,
                  "lr": self.opt.param_groups[-1]["lr"], "grad_norm": norm, "clipped": self.clipped,
                  "tokens_per_s": round(rate), "elapsed": round(self.elapsed, 2)}
        self._log(record)
        self.bar.set_postfix(step=self.step, loss=f"{record['loss']:.3f}", tok_s=f"{rate:,.0f}")
        self.window_loss, self.window_steps = 0.0, 0
        self.window_tokens, self.t_window = 0, now

    def _finish(self, status: str) -> dict:
        """Final evaluation: keep the better of the final and the best weights, then report
        the kept model with the task's exact evaluation; write metrics and plots."""
        # The loop's last step may already have evaluated these weights (e.g. at an epoch's end).
        evaluated = self.last_eval is not None and self.last_eval[0] == self.step
        metrics = self.last_eval[1] if evaluated else self._eval_and_keep_best()
        self.save()  # the final position (epoch count included) for a later --resume
        if self.best != metrics[self.task.metric]:  # an earlier evaluation stays the best
            best, _, _ = load_pretrained(self.run_dir, self.device)
            metrics = self.task.evaluate(best, self.device, self.precision, exact=True)
        elif self.task.exact_differs:
            metrics = self.task.evaluate(self.model, self.device, self.precision, exact=True)
        write_json(self.run_dir / METRICS_FILE, {"val": metrics})
        plot_loss_curve(self.run_dir / LOG_FILE, self.run_dir / "loss.png")
        return {"status": status, "metrics": metrics, "step": self.step}


def _step_of(line: str) -> float:
    """The step of a log line; a line cut short by a kill counts as never written."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return math.inf


def _to_device(x, device):
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return x.to(device)
    return type(x)(_to_device(v, device) for v in x)
