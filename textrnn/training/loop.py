"""The one training loop, for every task. Its collaborators: the run state (what resumes),
the schedules, ULMFiT's unfreezing, the checkpointer (what is written) and the run log
(what is reported)."""
import logging
import math
import time

import torch

from ..checkpoint import load_training_state
from ..device import autocast
from ..errors import DataError, TrainingDiverged, setting_name
from ..world import World, shared
from .averaging import WeightAverage
from .checkpointer import Checkpointer
from .distributed import Replicated, rank_states, shard
from .runlog import RunLog
from .schedules import lr_factor, on_plateau
from .signals import StopSignals
from .state import RunState, checkpoint, restore
from .ulmfit import make_optimizer, set_rates, unfreeze

log = logging.getLogger("textrnn")

PACE_AT = 0.05  # the share of a --time-budget after which its seconds per step are fixed


class Trainer:
    """Runs `task` (see textrnn.tasks.Task) on `model`, writing the run folder `run_dir`.

    `fit()` returns {"status": "done" | "interrupted" | "stopped", "metrics": {...}, "step"}.

    Under torchrun (`world` of several ranks) every rank runs this loop in step: each
    trains on its share of every global batch, the figures that decide what happens next
    (loss, time, a stop signal) are summed over ranks once per step so every rank decides
    alike, and only rank 0 writes the run folder and shows progress.
    """

    def __init__(self, model, task, cfg, run_dir, tokenizer, device, precision="fp32",
                 resume=False, show_progress=True, world=World()):
        self.model, self.task, self.cfg = model, task, cfg.validate()
        self.device, self.precision, self.world = device, precision, world
        self.show_progress = show_progress and world.main
        self.folder = Checkpointer(run_dir, tokenizer, writes=world.main)
        self.opt = make_optimizer(model, cfg)
        self.net = Replicated(model, world, device, task.skips_parameters(model))
        self.average = WeightAverage(model, cfg.ema) if cfg.ema else None
        self.state, self.saved_step, self.last_eval = RunState(), None, None
        self.unsynced, self.stop_asked = 0.0, None  # seconds not yet summed over ranks; a signal
        if resume:
            self.state = restore(load_training_state(run_dir), model, self.opt, cfg, device,
                                 run_dir, world, self.average)
            self.saved_step = self.state.step
            task.restore_data_state(self.state.data, f"{run_dir}/training_state.pt")
            self.state.run_id = self.folder.resume(self.state)
        else:
            self.state.run_id = self.folder.start_fresh()

    def fit(self) -> dict:
        s = self.state
        self.model.train()
        self.log = RunLog(self.cfg, s, self.task.num_batches(0), self.folder.log, self.show_progress,
                          self.task.unit)
        with StopSignals() as self.signals:
            while not self._should_stop():
                batches = self.task.num_batches(s.epoch)
                if not batches:  # no step would ever come, nor a stop signal's turn to be read
                    raise shared(DataError(f"epoch {s.epoch + 1} of the training data gives no "
                                           "batch; pass more training data"), 0)
                self.start_epoch(batches)
                while s.batch_index < batches and not self._should_stop():
                    self._one_step()
                if s.batch_index == batches:
                    s.epoch, s.batch_index = s.epoch + 1, 0
            self.log.close()
            if self.stop_asked is not None:
                self.save()
                self.net.release()
                log.warning("interrupted at step %d; saved to %s; continue with --resume",
                            s.step, self.folder.run_dir)
                return {"status": "interrupted", "signal": self.stop_asked, "step": s.step}
        self.net.release()
        return self._finish("stopped" if self._patience_spent() else "done")

    def start_epoch(self, batches: int):
        """Entering an epoch (at its start, or mid-way on --resume)."""
        if self.state.batch_index == 0:
            self.state.carry = None  # a new pass over the data starts from a fresh state
        unfreeze(self.opt, self.cfg, self.state, batches)

    def _should_stop(self) -> bool:
        c, s = self.cfg, self.state
        return bool((c.max_steps and s.step >= c.max_steps) or (c.epochs and s.epoch >= c.epochs)
                    or (c.time_budget and s.elapsed >= c.time_budget)
                    or self.stop_asked is not None or self._patience_spent())

    def _patience_spent(self) -> bool:
        return bool(self.cfg.patience and self.state.evals_without_gain >= self.cfg.patience)

    def _one_step(self):
        """Train on the next batch, then log, evaluate and save when their turn comes."""
        s, t0 = self.state, time.perf_counter()
        batch, scale = self.task.batch(s.epoch, s.batch_index), 1.0
        if not self.task.own_share:  # each rank's share of the global batch
            batch, scale = shard(batch, self.world, self.task.weight)
        loss, norm = self.train_step(batch, scale)
        s.batch_index += 1
        dt = time.perf_counter() - t0
        loss, tokens, seconds = self._agree(loss * scale, self.task.tokens(batch), dt)
        s.elapsed += seconds
        self._fix_pace()
        self.log.step_done(loss, tokens, dt)
        if s.step % self.cfg.log_every == 0:
            self.log.training(norm, self.opt.param_groups[-1]["lr"])
        if self._due(self.cfg.eval_every):
            t0, before = time.perf_counter(), s.best
            self.evaluate()
            s.evals_without_gain = 0 if s.best != before else s.evals_without_gain + 1
            self.unsynced += time.perf_counter() - t0  # the budget covers periodic evaluation
        if self._due(self.cfg.save_every):
            self.save()

    def _agree(self, loss: float, tokens: int, dt: float) -> tuple:
        """One sum over ranks per step: the batch's mean loss, its tokens, the seconds
        spent (each rank's mean: the time budget's clock), and whether any rank was asked
        to stop. Every later decision reads these, so all ranks take the same steps."""
        received = self.signals.received
        total = self.world.sum([loss, tokens, dt + self.unsynced, received or 0])
        self.unsynced, n = 0.0, self.world.size
        if total[3] > 0:
            self.stop_asked = received or 15  # SIGTERM, when another rank was signalled
        loss = float(total[0]) / n
        if not math.isfinite(loss):
            self._diverged(f"the loss became {loss} at step {self.state.step}")
        return loss, int(total[1]), float(total[2]) / n

    def _fix_pace(self):
        """A time budget's schedule stops reading the clock early: after PACE_AT of the
        budget, the seconds per step so far are saved, and from then on the run's progress
        is step x pace / budget (continuous with elapsed / budget before). The learning
        rate is then a function of the step and the saved state, so a resumed run follows
        the uninterrupted run's curve even on a slower machine; only where it ends still
        depends on the clock."""
        s, budget = self.state, self.cfg.time_budget
        if budget and s.pace is None and s.elapsed >= PACE_AT * budget:
            s.pace = s.elapsed / s.step

    def _due(self, every: int) -> bool:
        """Every `every` steps, or after the epoch's last batch when `every` is 0."""
        if every:
            return self.state.step % every == 0
        return self.state.batch_index == self.task.num_batches(self.state.epoch)

    def train_step(self, batch, scale: float = 1.0):
        """One optimiser step on this rank's share of a batch, its loss weighted by `scale`
        (see distributed.shard); returns (loss value, gradient norm)."""
        s, c = self.state, self.cfg
        self.set_lr()
        with autocast(self.device, self.precision):
            loss, s.carry = self.task.loss(self.net(), batch, s.carry, self.device)
        self.opt.zero_grad(set_to_none=True)
        (loss * scale if scale != 1.0 else loss).backward()
        params = [p for g in self.opt.param_groups for p in g["params"] if p.grad is not None]
        if c.clip:
            # Gradient-norm clipping (Pascanu et al. 2013): exploding gradients get rescaled
            # instead of throwing the weights far away.
            norm = torch.nn.utils.clip_grad_norm_(params, c.clip).item()
            s.clipped += norm > c.clip
        else:
            norms = torch.stack([torch.linalg.vector_norm(p.grad.float()) for p in params])
            norm = float(torch.linalg.vector_norm(norms))  # one sync, not one per tensor
        value = loss.item()
        if not math.isfinite(norm):  # the same on every rank: DDP averaged the gradients
            self._diverged(f"the gradient became {norm} at step {s.step + 1}")
        self.opt.step()
        if self.average is not None:
            self.average.update()
        s.step += 1
        return value, norm

    def _diverged(self, what: str):
        """End the run on every rank alike: the figure that diverged was agreed on by all."""
        where = (f"the checkpoint of step {self.saved_step} in {self.folder.run_dir} is intact"
                 if self.saved_step is not None else "nothing was saved")
        raise shared(TrainingDiverged(f"{what}; lower {setting_name('lr')} (now {self.cfg.lr}) or "
                                      f"set {setting_name('clip')}; {where}"), 0)

    def set_lr(self):
        c, s = self.cfg, self.state
        set_rates(self.opt, lr_factor(c.schedule, s.step, self.progress(), c.warmup_steps,
                                      c.final_lr_ratio, s.schedule["scale"], s.epoch), s)

    def progress(self) -> float:
        """How far the run is, 0 -> 1, by whichever limit comes first."""
        c, s, parts = self.cfg, self.state, []
        if c.max_steps:
            parts.append(s.step / c.max_steps)
        if c.epochs:
            n = max(self.task.num_batches(s.epoch), 1)
            parts.append((s.epoch + s.batch_index / n) / c.epochs)
        if c.time_budget:
            parts.append((s.step * s.pace if s.pace else s.elapsed) / c.time_budget)
        return max(parts)

    @property
    def evaluated(self):
        """The weights that are validated, kept and saved: the average under --ema."""
        return self.model if self.average is None else self.average.model

    def evaluate(self) -> dict:
        """Evaluate, keep the weights if they are the best so far, and log it."""
        s = self.state
        metrics = self.task.evaluate(self.evaluated, self.device, self.precision)
        value = metrics[self.task.metric]
        improved = s.best is None or (value < s.best if self.task.mode == "min" else value > s.best)
        if improved:
            s.best = value
            self.folder.keep_best(self.evaluated, s.step, metrics)
        if self.cfg.schedule == "plateau":
            on_plateau(s.schedule, improved)
        self.log.evaluation(metrics)
        self.last_eval = (s.step, metrics)
        return metrics

    def save(self):
        """Write the resume state (and the weights, if no best model exists yet)."""
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise shared(TrainingDiverged(f"weights became NaN/inf at step {self.state.step}; not "
                                          f"saved; lower {setting_name('lr')} or set {setting_name('clip')}"), 0)
        self.state.data = self.task.data_state()
        ckpt = checkpoint(self.state, self.model, self.opt, self.cfg, self.average)
        ckpt.update(rank_states(self.world, self.state.carry, self.state.data))  # every rank, for --resume
        self.folder.save_state(self.evaluated, self.state.step, ckpt)
        self.saved_step = self.state.step

    def best_model(self):
        """The kept model: the final weights, or those of an earlier, better evaluation."""
        return self.folder.best_model(self.evaluated, self.state.step)

    def _finish(self, status: str) -> dict:
        """Evaluate the final weights (unless the last step just did), save, and report the
        kept model: its metrics, with a task's sampled evaluation redone in full, and any
        extra splits the task scores; metrics.json is written once, here."""
        s = self.state
        warn_if_short(self.cfg, s.step)
        if self.last_eval is None or self.last_eval[0] != s.step:
            self.evaluate()
        self.save()  # the final position, for a later --resume
        best, metrics = self.best_model(), self.folder.best_metrics
        if self.task.sampled_eval or metrics is None:
            metrics = self.task.evaluate(best, self.device, self.precision, final=True)
        extra = self.task.report(best, metrics, self.folder, self.device, self.precision)
        self.folder.write_metrics({"val": metrics, **extra})
        self.folder.plot_loss(self.task.loss_unit)
        self.folder.draw_plots()  # after metrics.json: drawing may fail, the figures are saved
        self.folder.write_card()  # last: it shows the metrics and the plots
        return {"status": status, "metrics": metrics, "step": s.step, **extra}


def warn_if_short(cfg, steps: int) -> None:
    """One line when a run ends too early to be useful: still inside its warm-up (the
    learning rate never reached its peak), or under --size auto with under half the steps
    it was sized for (the machine slowed down after sizing)."""
    if steps < cfg.warmup_steps:
        short = f"fewer than its {cfg.warmup_steps} warm-up steps"
    elif cfg.size == "auto" and steps < cfg.size_steps // 2:
        short = f"under half the {cfg.size_steps} it was sized for"
    else:
        return
    longer = (f"a longer {setting_name('time_budget')}" if cfg.time_budget else
              f"more {setting_name('epochs')} or {setting_name('max_steps')}")
    log.warning("the run took only %d steps, %s, so the model is barely trained; pass %s%s",
                steps, short, longer, "" if cfg.size == "auto" else f" or {setting_name('size', 'auto')}")
