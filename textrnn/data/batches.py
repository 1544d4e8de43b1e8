"""Token ids -> task batches: a language model's batchified columns cut into BPTT
windows, a classifier's length-bucketed, padded batches."""
import random

import numpy as np
import torch

from ..tokenization import PAD_ID


def batchify(ids, batch_size: int):
    """(N,) -> (B, N // B): B contiguous columns read in parallel (word_language_model).

    Each row is a stretch of the text, so the hidden state carried from one window to
    the next really continues the same text. The tail that does not fill a row is dropped.
    Works on numpy arrays (memory-mapped too, without copying) and on tensors.
    """
    n = len(ids) // batch_size
    return ids[: n * batch_size].reshape(batch_size, n)


def num_windows(stream, bptt: int) -> int:
    return (stream.shape[1] - 1 + bptt - 1) // bptt


def _long(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.long()
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64))


def window(stream, i: int, bptt: int):
    """Window i of a batchified stream: inputs (B, T) and next-token targets (B, T), int64."""
    start = i * bptt
    T = min(bptt, stream.shape[1] - 1 - start)
    return _long(stream[:, start:start + T]), _long(stream[:, start + 1:start + 1 + T])


def bucketed_batches(lengths: list[int], batch_size: int, seed: int, shuffle=True,
                     pool: int = 50) -> list[list[int]]:
    """Batches of example indices of similar length, each index exactly once.

    Shuffle, cut into pools of `pool` batches, sort each pool by length and slice it into
    batches, then shuffle the batches: little padding, yet a random order every epoch.
    The order depends only on `seed`, so a resumed run sees the same batches.
    """
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    else:  # evaluation: one global sort is best
        order.sort(key=lambda i: lengths[i])
    size = batch_size * pool if shuffle else len(order)
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start:start + size], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    if shuffle:
        rng.shuffle(batches)
    return batches


class EpochBatches:
    """An epoch's length-bucketed batches (bucketed_batches), a fresh order each epoch fixed
    by (seed, epoch): the same (epoch, i) always gives the same batch, so a resumed run
    continues exactly. `batches(epoch)` -> lists of example indices."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self._epoch, self._batches = None, None

    def __call__(self, epoch: int) -> list[list[int]]:
        if self._epoch != epoch:
            self._epoch = epoch
            self._batches = bucketed_batches(self.lengths, self.batch_size, self.seed * 1000 + epoch)
        return self._batches


def collate(seqs: list[list[int]]):
    """Pad to the longest sequence: ids (B, T) with <pad>, lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, lengths
