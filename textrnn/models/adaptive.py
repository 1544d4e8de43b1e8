"""Adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs").

Word frequencies follow Zipf's law: in a 16,000-word IMDb vocabulary the 2,000 most
frequent words cover most tokens, yet a full softmax multiplies every hidden state by
the whole (vocab, hidden) matrix, which is most of a word LM's arithmetic. Here the head
softmax scores the frequent words plus one entry per tail cluster; a rarer word costs
its cluster's entry in the head plus a softmax over its cluster only, computed at a
quarter of the width (a sixteenth for the next cluster, and so on).

Word vectors stay the rows of one (vocab, hidden) matrix, `proj.weight`, as in the full
softmax head, so weight tying, vocabulary growth and checkpoints treat both heads alike.
A tail cluster scores word w as (P h)·(Q v_w) + b_w, where P and Q project the hidden
state and the word vector v_w down to the cluster's width.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .dropout import LockedDropout

DIV = 4.0  # each tail cluster is DIV times narrower than the one before (Grave et al.)


class AdaptiveLMHead(nn.Module):
    """Hidden states (B, T, H) -> next-token log-probabilities (B, T, vocab), with `nll`
    computing the training loss without building them."""

    def __init__(self, hidden: int, vocab_size: int, dropout: float, cutoffs: list[int]):
        super().__init__()
        self.drop = LockedDropout(dropout)
        self.proj = nn.Linear(hidden, vocab_size)  # word vectors (vocab, H) and biases
        # Token ids are ordered by frequency, so clusters are id ranges:
        # [0, c1) is the head's shortlist, [c1, c2) the first tail, ... [ck, vocab) the last.
        self.bounds = [0, *cutoffs, vocab_size]
        n_tails = len(cutoffs)
        self.register_buffer("edges", torch.tensor(cutoffs, dtype=torch.long), persistent=False)
        self.cluster = nn.Linear(hidden, n_tails)  # the head's entry for each tail cluster
        widths = [max(1, int(hidden / DIV ** (i + 1))) for i in range(n_tails)]
        self.down = nn.ModuleList(nn.Linear(hidden, w, bias=False) for w in widths)  # P
        self.word_down = nn.ModuleList(nn.Linear(hidden, w, bias=False) for w in widths)  # Q

    def head_scores(self, h):  # (N, H) -> (N, shortlist + tails)
        s = self.bounds[1]
        return torch.cat([F.linear(h, self.proj.weight[:s], self.proj.bias[:s]), self.cluster(h)], -1)

    def tail_rows(self, i: int) -> slice:  # tail i's token ids
        return slice(self.bounds[i + 1], self.bounds[i + 2])

    def tail_words(self, i: int):  # tail i's word vectors, projected: (size, width)
        return self.word_down[i](self.proj.weight[self.tail_rows(i)])

    def tail_scores(self, i: int, h, words=None):  # (N, H) -> (N, size of tail i)
        words = self.tail_words(i) if words is None else words
        return F.linear(self.down[i](h), words, self.proj.bias[self.tail_rows(i)])

    def scores(self, h, tail_words=None):
        """Log-probabilities over the whole vocabulary, (..., H) -> (..., vocab); no dropout.
        `tail_words`: the tails' projected word vectors, when computed once for many calls."""
        head = F.log_softmax(self.head_scores(h).float(), -1)
        s = self.bounds[1]
        parts = [head[..., :s]]
        for i in range(len(self.down)):
            words = None if tail_words is None else tail_words[i]
            tail = F.log_softmax(self.tail_scores(i, h, words).float(), -1)
            parts.append(head[..., s + i: s + i + 1] + tail)  # P(cluster) * P(word | cluster)
        return torch.cat(parts, -1)

    def scorer(self, dense=None):
        """h (B, H) -> log-probabilities (B, vocab) with today's weights, for sampling: the
        tails' word vectors are projected once here, not at every token (at batch 1 that
        projection costs about 200 times a token's scores). It stays fp32 whatever weight
        format `dense` is: its matrices are split in clusters too small to gain from it."""
        with torch.no_grad():
            words = [self.tail_words(i) for i in range(len(self.down))]
        return lambda h: self.scores(h, words)

    def forward(self, h):
        return self.scores(self.drop(h))

    def nll(self, h, targets, reduction: str = "mean"):
        """Next-token NLL of hidden states (B, T, H) against targets (B, T), paying for a
        tail's softmax only on the tokens that fall in it."""
        h = self.drop(h).flatten(0, 1)  # (N, H)
        y = targets.flatten()  # (N,)
        s = self.bounds[1]
        cluster = torch.bucketize(y, self.edges, right=True)  # 0: shortlist, i + 1: tail i
        head = F.log_softmax(self.head_scores(h).float(), -1)  # (N, s + tails)
        lp = head.gather(1, torch.where(cluster == 0, y, s + cluster - 1)[:, None]).squeeze(1)
        for i in range(len(self.down)):
            rows = (cluster == i + 1).nonzero().squeeze(1)
            if rows.numel():
                tail = F.log_softmax(self.tail_scores(i, h[rows]).float(), -1)  # (n, size)
                word = (y[rows] - self.bounds[i + 1])[:, None]
                lp = lp.index_add(0, rows, tail.gather(1, word).squeeze(1))
        total = -lp.sum()
        return total / y.numel() if reduction == "mean" else total
