"""A linear-chain conditional random field over a sentence's tag scores (Lafferty et al.
2001), the output layer of the BiLSTM-CRF taggers (Huang et al. 2015; Lample et al. 2016):
a path's score is the sum of its tags' scores and of a learnt score for each transition,
so the tagger chooses whole sequences, not one tag at a time.

- loss: the negative log-likelihood of the gold path, log Z - score(gold), with log Z, the
  log-sum over every path, by the forward algorithm;
- decode: the best path by Viterbi;
- marginals: each tag's probability at each word, the gradient of log Z with respect to the
  tag scores (the forward-backward pass, done by autograd).

Transitions a tag scheme forbids (O -> I-PER in IOB2) score FORBIDDEN, so no decoded path
takes them. All in fp32: a log-sum-exp over long sentences loses too much in bf16.

Shapes: B sentences, T words, K tags.
"""
import torch
from torch import nn

FORBIDDEN = -10_000.0  # far below any path's score; finite, so no inf - inf makes a NaN


class CRF(nn.Module):
    def __init__(self, num_tags: int, allowed=None, start=None, end=None):
        """`allowed` (K, K) bool, [from, to]; `start`, `end` (K,) bool: which tags may open
        and close a sentence. None: everything is allowed."""
        super().__init__()
        k = num_tags
        self.transitions = nn.Parameter(torch.zeros(k, k))  # (K from, K to)
        self.start = nn.Parameter(torch.zeros(k))
        self.end = nn.Parameter(torch.zeros(k))
        ones = lambda *shape: torch.ones(*shape, dtype=torch.bool)  # noqa: E731
        # The scheme's rules follow from the tag names in config.json, so they are not saved.
        self.register_buffer("allowed", ones(k, k) if allowed is None else allowed, persistent=False)
        self.register_buffer("may_start", ones(k) if start is None else start, persistent=False)
        self.register_buffer("may_end", ones(k) if end is None else end, persistent=False)

    def scores(self):
        """(transitions (K, K), start (K,), end (K,)) with forbidden moves at FORBIDDEN."""
        return (self.transitions.masked_fill(~self.allowed, FORBIDDEN),
                self.start.masked_fill(~self.may_start, FORBIDDEN),
                self.end.masked_fill(~self.may_end, FORBIDDEN))

    def log_partition(self, emissions, lengths):
        """log Z (B,) of tag scores (B, T, K) over each sentence's `lengths` (B,) words."""
        trans, start, end = self.scores()
        alpha = start + emissions[:, 0]  # (B, K): log-sum of paths ending in each tag
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + emissions[:, t]  # (B, K)
            alpha = torch.where((t < lengths)[:, None], nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def path_score(self, emissions, tags, lengths):
        """The score (B,) of the tag paths `tags` (B, T)."""
        trans, start, end = self.scores()
        B, T, _ = emissions.shape
        real = torch.arange(T, device=tags.device)[None] < lengths[:, None]  # (B, T)
        emitted = emissions.gather(2, tags[..., None]).squeeze(2)  # (B, T)
        moved = trans[tags[:, :-1], tags[:, 1:]] * real[:, 1:]  # (B, T - 1)
        last = tags.gather(1, (lengths - 1)[:, None]).squeeze(1)  # (B,)
        return start[tags[:, 0]] + (emitted * real).sum(1) + moved.sum(1) + end[last]

    def nll(self, emissions, tags, lengths):
        """The negative log-likelihood (B,) of the gold paths."""
        emissions = emissions.float()
        return self.log_partition(emissions, lengths) - self.path_score(emissions, tags, lengths)

    @torch.no_grad()
    def decode(self, emissions, lengths):
        """The best paths (B, T) by Viterbi (positions past a sentence's end hold its last tag)."""
        emissions = emissions.float()
        trans, start, end = self.scores()
        B, T, K = emissions.shape
        score = start + emissions[:, 0]  # (B, K): the best path's score ending in each tag
        stay = torch.arange(K, device=emissions.device).expand(B, K)
        back = []
        for t in range(1, T):
            best, came_from = (score[:, :, None] + trans).max(dim=1)  # (B, K), (B, K)
            going = (t < lengths)[:, None]
            score = torch.where(going, best + emissions[:, t], score)
            back.append(torch.where(going, came_from, stay))  # past the end a tag stays put
        path = [(score + end).argmax(1)]  # (B,)
        for came_from in reversed(back):
            path.append(came_from.gather(1, path[-1][:, None]).squeeze(1))
        return torch.stack(path[::-1], dim=1)

    def marginals(self, emissions, lengths):
        """p(tag k at word t) (B, T, K) by forward-backward: d log Z / d emissions."""
        with torch.enable_grad():
            em = emissions.detach().float().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_partition(em, lengths).sum(), em)
        return grad
