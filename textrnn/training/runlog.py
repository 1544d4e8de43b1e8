"""What a run reports as it goes: the progress bar, and the records of log.jsonl (mean
training loss, rate and gradient norm since the last line; each evaluation).

Nothing about the progress display may end a run: the bar is a view, so a failure of its
drawing (a terminal gone, a format the library cannot fill) switches it off with one log
line and the run goes on."""
import logging

from tqdm.auto import tqdm

log = logging.getLogger("textrnn")


class RunLog:
    def __init__(self, cfg, state, epoch_batches: int, write, show: bool, unit: str = "tokens"):
        self.cfg, self.state, self.write, self.unit = cfg, state, write, unit
        self.bar = _progress_bar(cfg, state, epoch_batches, show)
        # tokens and seconds of the training steps since the last line: an evaluation or a
        # checkpoint between them is no training time
        self.tokens, self.seconds = 0, 0.0

    def step_done(self, loss: float, tokens: int, seconds: float):
        window = self.state.window
        window[0] += loss
        window[1] += 1
        self.tokens += tokens
        self.seconds += seconds
        if self.cfg.time_budget:  # seconds, never past the budget (a last step may overrun it)
            self._show("update", max(0.0, min(seconds, self.bar.total - self.bar.n)))
        else:
            self._show("update", 1)

    def training(self, norm: float, lr: float):
        """A line of mean training loss and speed since the last one."""
        s = self.state
        rate = self.tokens / max(self.seconds, 1e-9)
        record = {"step": s.step, "epoch": s.epoch, "loss": s.window[0] / s.window[1], "lr": lr,
                  "grad_norm": norm, "clipped": s.clipped, "tokens_per_s": round(rate),
                  "elapsed": round(s.elapsed, 2)}
        self.write(record)
        self._show("set_postfix", {"step": s.step, "loss": f"{record['loss']:.3f}",
                                   f"{self.unit}/s": f"{rate:,.0f}"})
        s.window[:] = [0.0, 0]
        self.tokens, self.seconds = 0, 0.0

    def evaluation(self, metrics: dict):
        s = self.state
        self.write({"step": s.step, "epoch": s.epoch, "elapsed": round(s.elapsed, 2),
                    "val": metrics, "best": s.best})

    def close(self):
        self._show("close")

    def _show(self, method: str, *args, **kwargs):
        """A call on the bar; if drawing fails, the bar goes and the run goes on."""
        try:
            getattr(self.bar, method)(*args, **kwargs)
        except Exception as exc:  # whatever the display raised: it is not the run's business
            log.warning("the progress bar failed (%s: %s) and is off for the rest of the run",
                        type(exc).__name__, exc)
            self.bar.disable = True  # so it draws nothing more, not even when collected
            self.bar = tqdm(disable=True)


def _progress_bar(cfg, state, epoch_batches: int, show: bool):
    if cfg.time_budget:  # the bar counts seconds, so its ETA is the budget's end
        bar = tqdm(total=cfg.time_budget, disable=not show, dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n:.0f}s [{elapsed}<{remaining}{postfix}]")
        bar.update(min(state.elapsed, cfg.time_budget))
        return bar
    total = cfg.max_steps or None
    if cfg.epochs:
        epoch_steps = cfg.epochs * epoch_batches
        total = min(total, epoch_steps) if total else epoch_steps
    return tqdm(total=total, initial=state.step, unit="step", disable=not show, dynamic_ncols=True)
