"""Task heads: they size themselves from the encoder's `output_size`."""
import torch
import torch.nn.functional as F
from torch import nn

from .dropout import LockedDropout
from .padded import real_positions

POOLINGS = ("last", "mean", "max", "concat", "attention")


class LMHead(nn.Module):
    """y_t = V h_t + c: hidden states (B, T, H) -> next-token logits (B, T, vocab), with
    locked dropout on the hidden states (the output dropout of AWD-LSTM)."""

    def __init__(self, hidden: int, vocab_size: int, dropout: float):
        super().__init__()
        self.drop = LockedDropout(dropout)
        self.proj = nn.Linear(hidden, vocab_size)

    def scorer(self, dense):
        """h (B, H) -> logits (B, vocab) for sampling, today's weights held by `dense` (a
        weight format of textrnn.inference.weights)."""
        return dense(self.proj.weight.detach(), self.proj.bias.detach())

    def forward(self, h):
        return self.proj(self.drop(h))

    def nll(self, h, targets, reduction: str = "mean"):
        """Next-token NLL of hidden states (B, T, H) against targets (B, T)."""
        return F.cross_entropy(self(h).float().flatten(0, 1), targets.flatten(), reduction=reduction)


def masked_pool(outputs, lengths, pooling: str, bidirectional: bool = False):
    """Pool (B, T, H) encoder outputs over real positions only -> (B, H) or (B, 3H).

    `last` is the output at each sequence's final real token (for a bidirectional
    encoder the backward half of that position saw the whole text too, so we take the
    backward half at position 0, where it finished).
    """
    B, T, H = outputs.shape
    mask = real_positions(lengths, T)  # (B, T)
    idx = (lengths - 1).clamp(min=0)
    last = outputs[torch.arange(B, device=outputs.device), idx]  # (B, H)
    if bidirectional:  # forward half at the end, backward half at position 0
        half = H // 2
        last = torch.cat([last[:, :half], outputs[:, 0, half:]], -1)
    if pooling == "last":
        return last
    m = mask.unsqueeze(-1).to(outputs.dtype)  # (B, T, 1)
    mean = (outputs * m).sum(1) / lengths.clamp(min=1)[:, None].to(outputs.dtype)
    if pooling == "mean":
        return mean
    mx = outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1).values
    if pooling == "max":
        return mx
    return torch.cat([last, mx, mean], -1)  # "concat", ULMFiT (Howard & Ruder 2018)


class BatchNormAnyBatch(nn.BatchNorm1d):
    """BatchNorm1d that reads a training batch of one example with the running statistics
    (plain BatchNorm1d refuses it, and the last batch of an epoch may hold one)."""

    def forward(self, x):
        if self.training and x.size(0) == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                False, 0.0, self.eps)
        return super().forward(x)


def hidden_block(width: int, hidden: int, dropout: float) -> nn.Sequential:
    """ULMFiT's classifier head before its last layer (Howard & Ruder 2018): BatchNorm puts
    the pooled features, whose scale a pretrained encoder sets, on a common footing, then
    dropout and a small ReLU layer. (B, width) -> (B, hidden)."""
    return nn.Sequential(BatchNormAnyBatch(width), nn.Dropout(dropout), nn.Linear(width, hidden),
                         nn.ReLU(), BatchNormAnyBatch(hidden))


class ClassifierHead(nn.Module):
    """Pool the encoder outputs, then a linear layer to class logits (B, C); with
    `head_hidden` > 0, ULMFiT's BatchNorm + ReLU block comes before that layer."""

    def __init__(self, hidden: int, num_classes: int, pooling: str, dropout: float,
                 bidirectional: bool, head_hidden: int = 0):
        super().__init__()
        self.pooling = pooling
        self.bidirectional = bidirectional
        if pooling == "attention":
            # Additive attention over time steps (Bahdanau et al. 2015; Yang et al. 2016).
            self.score = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        width = hidden * 3 if pooling == "concat" else hidden
        self.block = None
        if head_hidden:
            self.block, width = hidden_block(width, head_hidden, dropout), head_hidden
            dropout /= 2  # ULMFiT drops less before the last layer than before the first
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(width, num_classes)

    def pool(self, outputs, lengths):
        if self.pooling != "attention":
            return masked_pool(outputs, lengths, self.pooling, self.bidirectional)
        T = outputs.size(1)
        mask = real_positions(lengths, T)  # (B, T)
        scores = self.score(outputs).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)  # (B, T, 1)
        return (weights * outputs).sum(1)  # (B, H)

    def forward(self, outputs, lengths):
        x = self.pool(outputs, lengths)  # (B, width)
        if self.block is not None:
            x = self.block(x)  # (B, head_hidden)
        return self.proj(self.drop(x))
