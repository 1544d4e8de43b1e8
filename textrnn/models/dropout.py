"""Dropout variants for recurrent networks (the AWD-LSTM set, Merity et al. 2017)."""
from torch import nn


class LockedDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani 2016): one mask per sequence, reused at every step.

    Fresh masks at each step let the noise average out over time and hurt recurrent
    models; a fixed mask drops the same units for the whole window.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):  # x: (B, T, D)
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask  # mask (B, 1, D) broadcasts over T


def embedding_dropout(embed: nn.Embedding, ids, p: float, training: bool):
    """Drop whole word types (Gal & Ghahramani 2016): every occurrence of a dropped
    token in the batch becomes the zero vector, so the model cannot lean on one word."""
    weight = embed.weight  # (V, E)
    if training and p > 0:
        mask = weight.new_empty(weight.size(0), 1).bernoulli_(1 - p) / (1 - p)
        weight = weight * mask
    return nn.functional.embedding(ids, weight, embed.padding_idx)  # (B, T, E)


def weight_dropped(rnn: nn.Module, p: float, training: bool) -> dict:
    """DropConnect on the hidden-to-hidden matrices (Wan et al. 2013; Merity et al. 2017).

    Returns replacement tensors for `torch.func.functional_call`, so the optimised
    nn.LSTM kernel still runs and the stored parameters stay untouched.
    """
    if not training or p == 0:
        return {}
    return {name: nn.functional.dropout(rnn.get_parameter(name), p, True)
            for name in rnn.recurrent_weight_names()}
