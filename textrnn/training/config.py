"""Optimisation settings. A run ends at the first limit reached (epochs, steps, time)."""
from dataclasses import dataclass, fields

from ..device import PRECISIONS
from ..errors import ConfigError, setting_name
from ..settings import check, setting

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant", "plateau", "stlr", "decay")
SIZES = ("fixed", "auto")
DEFAULT_EPOCHS = 10  # when no limit is given at all
# On --resume a run's batches, optimiser and schedule must stay what they were, or it would
# not continue the same run: these settings must be given as the run started (or left out:
# the saved ones are then used). The others (limits, evaluation and save intervals,
# patience, device, precision) apply from the resumed step on.
FIXED = "fixed"


@dataclass
class TrainConfig:
    batch_size: int = setting(64, "sequences per batch; under torchrun the global batch, split "
                              "among the processes (so results do not depend on their number)", low=1, high=1 << 20, resume=FIXED)
    bptt: int = setting(128, "language models: tokens per truncated-BPTT window", low=1, high=1 << 20, resume=FIXED)
    lr: float = setting(3e-3, "peak learning rate", low=0, low_open=True, high=1000, resume=FIXED)
    optimizer: str = setting("adamw", "optimizer", choices=OPTIMIZERS, resume=FIXED)
    weight_decay: float = setting(0.01, "decoupled weight decay", low=0, high=100, resume=FIXED)
    momentum: float = setting(0.9, "sgd momentum", low=0, high=1, high_open=True, cli=False, resume=FIXED)
    schedule: str = setting("cosine", "learning-rate schedule: cosine decay after warmup, constant, "
                            "plateau halving, stlr (slanted triangular), or decay (x0.9 each epoch "
                            "after the third)", choices=SCHEDULES, resume=FIXED)
    warmup_steps: int = setting(100, "steps of linear warmup", low=0, high=10**9, resume=FIXED)
    final_lr_ratio: float = setting(0.05, "cosine ends at lr times this", low=0, high=1, cli=False, resume=FIXED)
    clip: float = setting(1.0, "max gradient norm; 0: off", low=0, high=1e6, resume=FIXED)
    ema: float = setting(0.0, "validate, keep and save an exponential moving average of the "
                         "weights with this decay per step (e.g. 0.99); 0: off", low=0, high=1,
                         high_open=True, resume=FIXED)
    epochs: int = setting(0, f"passes over the data; 0: no limit (with no limit at all, "
                          f"{DEFAULT_EPOCHS})", low=0)
    max_steps: int = setting(0, "optimiser steps; 0: no limit", low=0)
    time_budget: float = setting(0.0, "seconds of training, evaluation included; 0: no limit",
                                 low=0, high=1e9)
    size: str = setting("fixed", "fixed: the model as configured; auto: time the task's sizes on "
                        "this machine first and train the largest that takes --size-steps steps "
                        "within --time-budget (kept by --resume)", choices=SIZES)
    size_steps: int = setting(600, "with --size auto, the steps a run must take within its time "
                              "budget to be useful", low=1, high=10**9)
    tokens_per_parameter: float = setting(0.0, "with --size auto, also the tokens per parameter a "
                                          "size must train within its time budget (the corpus "
                                          "preset asks 12, from measurement); 0: steps alone",
                                          low=0, high=1e9)
    eval_every: int = setting(500, "steps between evaluations; 0: at the end of each epoch", low=0)
    save_every: int = setting(500, "steps between checkpoints; 0: at the end of each epoch", low=0)
    log_every: int = setting(20, "steps between log lines", low=1)
    eval_batch_size: int = setting(0, "examples per evaluation batch (a language model's: "
                                   "columns of its validation text); 0: the task's own", low=0,
                                   high=1 << 20)
    patience: int = setting(0, "stop after this many evaluations without gain; 0: never", low=0)
    discriminative_lr: float = setting(1.0, "layer group k below the top trains at lr / this**k "
                                       "(ULMFiT: 2.6)", low=1, high=100, resume=FIXED)
    gradual_unfreezing: bool = setting(False, "epoch e trains only the top e+1 layer groups (ULMFiT)", resume=FIXED)
    unfreeze_warmup: float = setting(0.0, "epochs over which a newly unfrozen group's rate rises "
                                     "(0: at once)", low=0, high=100, resume=FIXED)
    seed: int = setting(1234, "seed of every random number generator", low=0, high=2**32 - 1, resume=FIXED)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps")
    dist_timeout: float = setting(1800.0, "torchrun: seconds a process waits for the others in "
                                  "a collective before the job fails", low=1, high=1e6)
    precision: str = setting("fp32", "bf16 autocast is faster on recent CPUs and GPUs",
                             choices=PRECISIONS)

    def __post_init__(self):
        # A run with no limit at all would never end: it gets a few epochs, as the help says.
        if not (self.epochs or self.max_steps or self.time_budget):
            self.epochs = DEFAULT_EPOCHS

    @classmethod
    def fixed_on_resume(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.metadata.get("resume") == FIXED]

    def changed_on_resume(self, saved: dict) -> list[str]:
        """The fixed settings whose value differs from `saved` (a run's own, as a dict)."""
        return [k for k in self.fixed_on_resume() if k in saved and saved[k] != getattr(self, k)]

    def validate(self) -> "TrainConfig":
        check(self)
        if not (self.epochs or self.max_steps or self.time_budget):
            raise ConfigError(f"no stopping rule: set {setting_name('epochs')}, "
                              f"{setting_name('max_steps')} or {setting_name('time_budget')}")
        if self.size == "auto" and not self.time_budget:
            raise ConfigError(f"{setting_name('size', 'auto')} fits the model to a time budget; add "
                              f"{setting_name('time_budget', 'SECONDS')} or drop {setting_name('size')}")
        return self
