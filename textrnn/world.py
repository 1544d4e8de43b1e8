"""Data-parallel runs under torchrun: which process this is, and the few collectives that
training and evaluation need. Without torchrun the world is one process and every
collective is the identity, so nothing changes.

torchrun starts one process per device and tells each its place through the environment
(RANK, WORLD_SIZE, LOCAL_RANK); PyTorch's process group (NCCL on GPUs, gloo on CPUs)
carries the collectives.
"""
import atexit
import contextlib
import gc
import logging
import os
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import distributed as dist

from .errors import TextRNNError

# How long a rank waits while another does work of its own (rank 0's token cache or its
# end-of-run report: a translator's beam searches over validation and test): --dist-timeout
# is for a silent peer in a training step, and these may take longer. A rank that dies
# still ends the wait at once: torchrun stops the job, and its connection closes.
PATIENCE = timedelta(days=7)
_patient_group = None  # a gloo group with PATIENCE as its timeout, made by start()


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """The process that writes the run folder and prints."""
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This rank's contiguous share of n items (shares differ by at most one; a rank
        gets an empty share when n < size)."""
        q, r = divmod(n, self.size)
        start = self.rank * q + min(self.rank, r)
        return slice(start, start + q + (self.rank < r))

    def sum(self, values) -> torch.Tensor:
        """The element-wise sum over ranks of a vector of numbers, as float64 on the CPU."""
        t = torch.as_tensor(values, dtype=torch.float64)
        if self.size > 1:
            t = t.to(_collective_device())
            dist.all_reduce(t)
            t = t.cpu()
        return t

    def gather(self, obj, patient: bool = False) -> list:
        """Every rank's `obj` (picklable), in rank order, on every rank. `patient`: the
        others may be busy for longer than --dist-timeout (see PATIENCE)."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj, group=_patient_group if patient else None)
        return out

    @contextlib.contextmanager
    def together(self, patient: bool = False):
        """A block every rank runs: if it raised a textrnn error on any rank, every rank
        raises the first failing rank's error at its end. A rank that failed alone would
        otherwise leave the others waiting in their next collective.

            with world.together():
                run_dir = claim(out)
        """
        if self.size == 1:
            yield
            return
        failure = None
        try:
            yield
        except TextRNNError as exc:
            failure = exc
        for rank, exc in enumerate(self.gather(failure, patient)):
            if exc is not None:
                raise shared(exc, rank)

    def wait(self, patient: bool = False):
        """Every rank reaches this point before any goes on (failing together if one failed)."""
        with self.together(patient):
            pass

    def rank0_first(self, fn, *args):
        """fn(*args) on rank 0, then on the others: what rank 0 writes (a cache), they read.
        Each side waits for the other patiently: writing a large corpus's cache may take
        longer than --dist-timeout."""
        if not self.main:
            self.wait(patient=True)
        with self.together(patient=True):
            result = fn(*args)
        if self.main:
            self.wait(patient=True)
        return result


def shared(exc: TextRNNError, rank: int) -> TextRNNError:
    """`exc`, as raised on every rank: rank 0 prints it, the others exit quietly."""
    message = exc.args[0] if exc.args else str(exc)  # with its settings' names unrendered
    err = type(exc)(message if rank == 0 else f"rank {rank}: {message}")
    err.shared = True
    return err


def launched() -> bool:
    """Started by torchrun (or a launcher like it) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launched_rank() -> int:
    """This process's rank as torchrun set it (0 without torchrun), before it joins."""
    return int(os.environ.get("RANK", "0"))


def joined() -> bool:
    """This process has joined torchrun's job (its process group exists)."""
    return dist.is_available() and dist.is_initialized()


def local_rank() -> int:
    """This process's index on its machine: its GPU under torchrun."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def current() -> World:
    if joined():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def start(device: torch.device, timeout: float) -> World:
    """Join torchrun's job once per process: NCCL for GPUs, gloo for CPUs. A collective
    that waits `timeout` seconds for a silent rank fails instead of hanging. Processes
    other than rank 0 print nothing but errors."""
    if not launched() or dist.is_initialized():
        return current()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    dist.barrier()  # creating the group does not wait for the others; everyone is here now
    global _patient_group
    _patient_group = dist.new_group(backend="gloo", timeout=PATIENCE)
    atexit.register(_stop)
    world = current()
    if not world.main:  # rank 0 prints results and progress; the others, only errors
        logging.getLogger("textrnn").setLevel(logging.ERROR)
        sys.stdout = open(os.devnull, "w")
    return world


def _stop():
    """At exit: free what still holds the group (a DDP wrapper caught in a reference
    cycle) while the group lives, then the group. Freed the other way round, at the
    interpreter's teardown, a C++ thread of the group can end the process with SIGABRT."""
    if dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
