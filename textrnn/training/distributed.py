"""What the loop does differently under torchrun: each rank trains on its share of every
global batch through DistributedDataParallel (Li et al. 2020), BatchNorm statistics span
the global batch, and the resume state holds every rank's generators and carried state.
With one process each of these is the identity."""
import hashlib
import json
from dataclasses import asdict

import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import ConfigError, setting_name
from ..models.heads import BatchNormAnyBatch
from ..world import World, shared
from ..nested import to_device
from .state import rng_state


def shard(batch: tuple, world: World, weight) -> tuple[tuple, float]:
    """This rank's contiguous share of a global batch (dim 0 of each tensor: an LM's block
    of columns, a classifier's or forecaster's examples), and the factor on its loss that
    makes the mean over ranks (what DDP's averaged gradients descend) the global batch's
    mean loss. A rank whose share is empty (a batch smaller than the world) takes the
    first example at weight 0, so every rank takes every step."""
    if world.size == 1:
        return batch, 1.0
    part = world.share(batch[0].shape[0])
    if part.start == part.stop:
        return tuple(t[:1] for t in batch), 0.0
    local = tuple(t[part] for t in batch)
    return local, world.size * float(weight(local)) / float(weight(batch))


class Replicated:
    """The model as each training step calls it: wrapped in DDP under torchrun. DDP fixes
    the set of parameters it synchronises when it wraps, so the model is wrapped again
    whenever that set changes (ULMFiT's gradual unfreezing, at the start of an epoch)."""

    def __init__(self, model, world: World, device, skips_parameters: bool = False):
        """`skips_parameters`: a step may leave some parameters without a gradient (an adaptive
        softmax's tail cluster is read only when a target falls in it), so DDP looks for them."""
        self.model, self.world, self.device = model, world, device
        self.skips = skips_parameters
        self.net, self.trainable = model, None
        if world.size > 1:
            sync_batchnorm(model)

    def __call__(self):
        if self.world.size == 1:
            return self.model
        trainable = tuple(p.requires_grad for p in self.model.parameters())
        if trainable != self.trainable:
            self.net = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.skips)
            self.trainable = trainable
        return self.net

    def release(self):
        """Drop the DDP wrapper (its reducer holds the process group) once training ends."""
        self.net, self.trainable = self.model, None


class AllReduce(torch.autograd.Function):
    """The sum over ranks, with its gradient: each rank's input feeds every rank's sum, so
    its gradient is the sum of every rank's upstream gradient."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncedBatchNorm(BatchNormAnyBatch):
    """BatchNorm whose training statistics cover every rank's share of the batch, as one
    process computes them over the global batch (torch's SyncBatchNorm runs on GPUs
    only). The all-reduces carry gradients, so the backward pass is the global one too."""

    def forward(self, x):  # x: (B, F)
        if not self.training:
            return super().forward(x)
        xf = x.float()
        stats = AllReduce.apply(torch.cat([xf.sum(0), xf.new_ones(1) * len(x)]))  # (F + 1,)
        n = stats[-1].detach()
        mean = stats[:-1] / n
        var = AllReduce.apply(((xf - mean) ** 2).sum(0)) / n  # biased, as BatchNorm normalises
        self._track(mean.detach(), var.detach(), n.item())
        return (xf - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias

    @torch.no_grad()
    def _track(self, mean, var, n: float):
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean, m)
        self.running_var.lerp_(var * n / max(n - 1, 1), m)  # the running variance is unbiased


def sync_batchnorm(model) -> None:
    """Every BatchNorm layer of `model` becomes a SyncedBatchNorm, in place: the same
    parameters and buffers, so the optimiser and the saved weights do not change."""
    for m in model.modules():
        if isinstance(m, BatchNormAnyBatch):
            m.__class__ = SyncedBatchNorm


def rank_states(world: World, carry, data=None) -> dict:
    """Every rank's generators, carried state (an LM's hidden state for its columns) and
    data position (its stream's), for training_state.pt; a collective, so every rank
    calls it."""
    if world.size == 1:
        return {}
    mine = {"rng": rng_state(), "carry": to_device(carry, torch.device("cpu")), "data": data}
    return {"world_size": world.size, "ranks": world.gather(mine)}


def same_on_every_rank(world: World, model, tokenizer) -> None:
    """Every rank built its tokenizer and model config from the same data on its own;
    check that they agree (a vocabulary that differed would silently garble training)."""
    if world.size == 1:
        return
    text = tokenizer.to_str(pretty=False) + json.dumps(asdict(model.cfg), sort_keys=True)
    digests = world.gather(hashlib.sha256(text.encode()).hexdigest())
    if len(set(digests)) > 1:
        raise shared(ConfigError(
            f"the processes built different tokenizers or models from the data (rank "
            f"{digests.index(digests[-1])} differs); give every process the same "
            f"{setting_name('data')} and settings"), 0)
