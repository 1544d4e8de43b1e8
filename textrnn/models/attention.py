"""Attention over an encoded source sentence: the decoder's state h (B, Hd) scores every
source position, the scores over real (unpadded) positions become weights by a softmax,
and the context is the weighted sum of the encoder's outputs.

Scores, selectable:
- bahdanau: additive, v . tanh(W_q h + W_k k) (Bahdanau et al. 2015);
- general: h . W k (Luong et al. 2015);
- dot: h . k, no parameters (Luong et al. 2015); needs Hd equal to the encoder's width.
The source side of each score (W_k k, or W k) is computed once per sentence (`keys`).
"""
import torch
from torch import nn

KINDS = ("bahdanau", "general", "dot")


class Attention(nn.Module):
    def __init__(self, kind: str, query_size: int, value_size: int):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown attention {kind!r}; choose one of {', '.join(KINDS)}")
        if kind == "dot" and query_size != value_size:
            raise ValueError(f"dot attention needs the decoder's width ({query_size}) to equal "
                             f"the encoder's output width ({value_size})")
        self.kind = kind
        if kind == "bahdanau":
            self.key = nn.Linear(value_size, query_size, bias=False)
            self.query = nn.Linear(query_size, query_size)
            self.v = nn.Linear(query_size, 1, bias=False)
        elif kind == "general":
            self.key = nn.Linear(value_size, query_size, bias=False)

    def keys(self, values):
        """values (B, S, He) -> what the scores read of the source: (B, S, Hd) or values."""
        return values if self.kind == "dot" else self.key(values)

    def forward(self, h, keys, values, mask):
        """h (B, Hd) one query each, or (B, T, Hd) a query per target position; keys from
        `keys`, values (B, S, He), mask (B, S) True at real tokens. Returns the context
        (B, He) and the weights (B, S), zero at padding; or (B, T, He) and (B, T, S)."""
        one = h.dim() == 2
        q = h[:, None] if one else h  # (B, T, Hd)
        if self.kind == "bahdanau":
            scores = self.v(torch.tanh(keys[:, None] + self.query(q)[:, :, None])).squeeze(-1)  # (B, T, S)
        else:
            scores = torch.bmm(q, keys.transpose(1, 2))  # (B, T, S)
        weights = torch.softmax(scores.float().masked_fill(~mask[:, None], -torch.inf), -1).to(values.dtype)
        context = torch.bmm(weights, values)  # (B, T, He)
        return (context[:, 0], weights[:, 0]) if one else (context, weights)
