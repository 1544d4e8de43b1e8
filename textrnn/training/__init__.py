"""Training: one loop for every task, its run state, schedules, ULMFiT's schedule, the
checkpointer, and the path from settings to a trained run folder."""
from .checkpointer import Checkpointer
from .config import OPTIMIZERS, SCHEDULES, TrainConfig
from .loop import Trainer
from .run import Run, check_run, load_start, prepare_run, resumed_settings, train
from .schedules import cosine, linear_warmup, lr_factor, slanted_triangular
from .state import RunState, seed_everything
from .ulmfit import make_optimizer, unfreeze_ramp

__all__ = ["Checkpointer", "OPTIMIZERS", "Run", "RunState", "SCHEDULES", "TrainConfig", "Trainer",
           "check_run", "cosine", "linear_warmup", "load_start", "lr_factor", "make_optimizer",
           "prepare_run", "resumed_settings", "seed_everything", "slanted_triangular", "train",
           "unfreeze_ramp"]
