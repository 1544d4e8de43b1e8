"""The text models: an encoder plus a task head. They know nothing about training; given
targets, `forward` returns the loss, so a wrapper such as DistributedDataParallel sees it."""
from torch import nn
from torch.nn import functional as F

from .adaptive import AdaptiveLMHead
from .encoder import RNNEncoder
from .heads import ClassifierHead, LMHead
from .padded import reverse_within_length


def layer_groups(model) -> list[list[nn.Parameter]]:
    """Parameters by depth, bottom to top: [embedding (+ conv)], one group per recurrent
    layer, [head]. A tied matrix belongs to the embedding group only."""
    enc = model.encoder
    bottom = list(enc.embed.parameters()) + (list(enc.conv.parameters()) if enc.conv is not None else [])
    seen = {id(p) for p in bottom}
    groups = [bottom] + [list(layer.parameters()) for layer in enc.layers]
    groups.append([p for p in model.head.parameters() if id(p) not in seen])
    return groups


class RNNLanguageModel(nn.Module):
    """ids (B, T), state -> next-token scores (B, T, vocab), new state. The scores are
    logits, or log-probabilities with an adaptive softmax: log_softmax reads both alike."""

    def __init__(self, cfg):  # cfg: config.ModelConfig
        super().__init__()
        self.cfg = cfg
        self.encoder = RNNEncoder(cfg.encoder, cfg.vocab_size, causal=True)
        width, dropout = self.encoder.output_size, cfg.encoder.dropout
        cutoffs = cfg.head.tail_cutoffs(cfg.vocab_size)
        if cutoffs:
            self.head = AdaptiveLMHead(width, cfg.vocab_size, dropout, cutoffs)
        else:
            self.head = LMHead(width, cfg.vocab_size, dropout)
        if cfg.head.tie_weights:
            # One matrix for reading and writing tokens (Press & Wolf 2017; Inan et al. 2017):
            # fewer parameters and usually lower perplexity.
            self.head.proj.weight = self.encoder.embed.weight

    def forward(self, ids, state=None, targets=None, reduction: str = "mean"):
        """Scores (B, T, vocab) and the new state; with `targets` (B, T), the next-token NLL
        in their place ("mean" or "sum" over tokens), which an adaptive head computes
        without scoring the whole vocabulary."""
        h, state = self.encoder(ids, state)  # (B, T, H)
        if targets is None:
            return self.head(h), state
        return self.head.nll(h, targets, reduction), state

    def layer_groups(self):
        return layer_groups(self)


class RNNClassifier(nn.Module):
    """ids (B, T), lengths (B,) -> class logits (B, C); with targets (B,), the mean cross
    entropy instead (weighted per class by `class_weights` (C,), if given)."""

    def __init__(self, cfg):  # cfg: config.ModelConfig
        super().__init__()
        self.cfg = cfg
        enc, head = cfg.encoder, cfg.head
        self.encoder = RNNEncoder(enc, cfg.vocab_size)
        self.head = ClassifierHead(self.encoder.output_size, len(head.labels), head.pooling,
                                   enc.dropout, enc.bidirectional, head.head_hidden)

    def forward(self, ids, lengths, targets=None, class_weights=None):
        if self.cfg.head.reverse:  # fine-tuned from a backward LM: read as it learnt to
            ids = reverse_within_length(ids.unsqueeze(-1), lengths).squeeze(-1)  # (B, T)
        h, _ = self.encoder(ids, lengths=lengths)  # (B, T, D*H)
        logits = self.head(h, lengths)  # (B, C)
        if targets is None:
            return logits
        return F.cross_entropy(logits.float(), targets, weight=class_weights)

    def layer_groups(self):
        return layer_groups(self)

