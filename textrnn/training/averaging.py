"""An exponential moving average of the weights (Polyak & Juditsky 1992), for `--ema DECAY`.

After every optimiser step, average <- average + (1 - d) (weights - average). Validation,
the kept best model and the saved weights are the average's; training goes on from the
raw weights. Where validation is noisy from one epoch to the next (a small series, a
small corpus) the average sits near the middle of where the raw weights wander, which
scores better and is picked more reliably than any single epoch's weights.

Early on the average would remember the random start, so the decay is warmed up as in
TensorFlow's ExponentialMovingAverage: d_t = min(DECAY, (1 + t) / (10 + t)).
"""
import copy

import torch


class WeightAverage:
    def __init__(self, model, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model)  # same class, device and dtypes as `model`
        self.model.requires_grad_(False)
        self.updates = 0
        # The tensors are fixed for the run (the optimiser steps `model`'s in place, and a
        # detached view sees that), so they are matched by name and listed once, not at
        # every step.
        mine = dict(self.model.named_parameters())
        named = list(model.named_parameters())
        self.averaged = [mine[name] for name, _ in named]
        self.current = [p.detach() for _, p in named]
        self.buffers = list(zip(self.model.buffers(), model.buffers()))

    def update(self):
        """Move the average towards the model's weights; buffers (a BatchNorm's running
        statistics) are copied, as they are averages already."""
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.averaged, self.current, 1.0 - d)
            for a, b in self.buffers:
                a.copy_(b)

    def state_dict(self) -> dict:
        """For training_state.pt: the averaged weights and how many steps they hold."""
        return {"updates": self.updates,
                "weights": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}}

    def load_state_dict(self, state: dict):
        self.updates = int(state["updates"])
        self.model.load_state_dict(state["weights"])
