"""What the one training loop needs to know about a task: its batches, loss and evaluation.

A task object provides
  num_batches(epoch) -> int, batch(epoch, i) -> tensors (CPU), tokens(batch) -> int,
  loss(model, batch, carry, device) -> (scalar loss, carry for the next batch),
  evaluate(model, device, precision) -> metrics dict,
  metric (the key of evaluate's dict that selects the best model) and mode ("min"/"max").
`carry` is whatever must flow from one batch to the next: the hidden state for a
language model, nothing for a classifier.
"""
import torch
from torch.nn import functional as F

from .data.batches import batchify, bucketed_batches, collate, num_windows, window
from .device import autocast
from .metrics import classification_metrics, lm_metrics
from .models import detach_state


@torch.no_grad()
def lm_nll(model, ids, device, precision="fp32", batch_size=1, bptt=1024):
    """Summed next-token NLL over a stream, read as `batch_size` columns with the state
    carried across windows. batch_size=1 reads the text exactly once, as one stream."""
    was_training = model.training
    model.eval()
    stream = batchify(ids, batch_size)
    total, count, state = 0.0, 0, None
    for i in range(num_windows(stream, bptt)):
        x, y = (t.to(device) for t in window(stream, i, bptt))
        with autocast(device, precision):
            nll, state = model.nll(x, y, state, reduction="sum")
        total += nll.item()
        count += y.numel()
    model.train(was_training)
    return total, count


class LMTask:
    """Next-token prediction over B contiguous columns with truncated BPTT."""

    metric, mode = "loss", "min"
    exact_differs = True  # the final report reads validation as one stream, not columns

    def __init__(self, train_ids, val_ids, val_chars: int, batch_size: int, bptt: int,
                 eval_batch_size: int = 16, eval_tokens: int = 1 << 18):
        self.stream = batchify(train_ids, batch_size)  # (B, N)
        self.bptt = bptt
        self.val_ids, self.val_chars = val_ids, val_chars
        # Periodic evaluations read at most this many validation tokens (about 20 s for a
        # 30k-word model on a CPU): a 10% split of a large corpus would otherwise cost
        # minutes each time. Only the final, exact evaluation reads all of it.
        self.eval_tokens = eval_tokens
        # Validation as several columns is much faster than one stream; the final report
        # (exact=True) reads it as one stream.
        self.eval_batch_size = eval_batch_size

    def num_batches(self, epoch: int) -> int:
        return num_windows(self.stream, self.bptt)

    def batch(self, epoch: int, i: int):
        return window(self.stream, i, self.bptt)  # inputs, targets: (B, T) each

    @staticmethod
    def tokens(batch) -> int:
        return batch[0].numel()

    def loss(self, model, batch, carry, device):
        x, y = (t.to(device, non_blocking=True) for t in batch)
        loss, state = model.nll(x, y, carry)
        return loss, detach_state(state)

    def evaluate(self, model, device, precision, exact=False):
        ids = self.val_ids if exact else self.val_ids[: self.eval_tokens]
        bs = 1 if exact else max(1, min(self.eval_batch_size, len(ids) // (self.bptt + 1)))
        nll, n = lm_nll(model, ids, device, precision, batch_size=bs,
                        bptt=1024 if exact else self.bptt)
        # Columns drop the tail that does not fill a row: scale chars to the tokens read.
        chars = self.val_chars * n / max(len(self.val_ids) - 1, 1)
        return lm_metrics(nll, n, round(chars))


@torch.no_grad()
def classify(model, seqs: list[list[int]], device, precision="fp32", batch_size=128, progress=False):
    """Class probabilities (N, C) for token-id sequences, in their original order.

    Sequences are batched by length (little padding); packing makes each result the
    same as running the sequence alone.
    """
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    out = torch.empty(len(seqs), len(model.cfg.labels))
    batches = bucketed_batches([len(s) for s in seqs], batch_size, seed=0, shuffle=False)
    for idx in tqdm(batches, disable=not progress, unit="batch", desc="predicting"):
        ids, lengths = collate([seqs[i] for i in idx])
        with autocast(device, precision):
            logits = model(ids.to(device), lengths.to(device))
        out[idx] = torch.softmax(logits.float(), -1).cpu()
    model.train(was_training)
    return out


class ClassifierTask:
    """Sequence classification over length-bucketed, padded and packed batches."""

    metric, mode = "accuracy", "max"
    exact_differs = False  # every evaluation already scores the whole validation set

    def __init__(self, train_seqs, train_labels, val_seqs, val_labels, names, batch_size: int,
                 seed: int, class_weights=None):
        self.seqs, self.labels = train_seqs, torch.tensor(train_labels)
        self.val_seqs, self.val_labels = val_seqs, list(val_labels)
        self.names, self.batch_size, self.seed = names, batch_size, seed
        self.lengths = [len(s) for s in train_seqs]
        self.class_weights = class_weights
        self._epoch, self._batches = None, None

    def batches(self, epoch: int):
        if self._epoch != epoch:  # a fresh order each epoch, fixed by (seed, epoch)
            self._epoch = epoch
            self._batches = bucketed_batches(self.lengths, self.batch_size, self.seed * 1000 + epoch)
        return self._batches

    def num_batches(self, epoch: int) -> int:
        return len(self.batches(epoch))

    def batch(self, epoch: int, i: int):
        idx = self.batches(epoch)[i]
        ids, lengths = collate([self.seqs[j] for j in idx])
        return ids, lengths, self.labels[idx]

    @staticmethod
    def tokens(batch) -> int:
        return int(batch[1].sum())

    def loss(self, model, batch, carry, device):
        ids, lengths, y = batch
        logits = model(ids.to(device, non_blocking=True), lengths.to(device))  # (B, C)
        weight = None if self.class_weights is None else self.class_weights.to(device)
        return F.cross_entropy(logits.float(), y.to(device), weight=weight), None

    def evaluate(self, model, device, precision, exact=False):
        return evaluate_classifier(model, self.val_seqs, self.val_labels, self.names, device, precision)


def evaluate_classifier(model, seqs, labels, names, device, precision="fp32", progress=False) -> dict:
    proba = classify(model, seqs, device, precision, progress=progress)
    y = torch.tensor(labels)
    metrics = classification_metrics(labels, proba.argmax(-1).tolist(), proba.numpy(), names)
    metrics["loss"] = float(F.nll_loss(proba.clamp_min(1e-12).log(), y))
    return metrics
