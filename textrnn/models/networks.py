"""The two task models: an encoder plus a head. They know nothing about training."""
from torch import nn

from ..config import ModelConfig


def layer_groups(model) -> list[list[nn.Parameter]]:
    """Parameters by depth, bottom to top: [embedding (+ conv)], one group per recurrent
    layer, [head]. A tied matrix belongs to the embedding group only."""
    enc = model.encoder
    bottom = list(enc.embed.parameters()) + (list(enc.conv.parameters()) if enc.conv is not None else [])
    seen = {id(p) for p in bottom}
    groups = [bottom] + [list(layer.parameters()) for layer in enc.layers]
    groups.append([p for p in model.head.parameters() if id(p) not in seen])
    return groups
from .encoder import RNNEncoder
from .adaptive import AdaptiveLMHead
from .heads import ClassifierHead, LMHead
from .stepper import Stepper


class RNNLanguageModel(nn.Module):
    """ids (B, T), state -> next-token scores (B, T, vocab), new state. The scores are
    logits, or log-probabilities with an adaptive softmax: log_softmax reads both alike."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = RNNEncoder(cfg)
        cutoffs = cfg.tail_cutoffs()
        if cutoffs:
            self.head = AdaptiveLMHead(self.encoder.output_size, cfg.vocab_size, cfg.dropout, cutoffs)
        else:
            self.head = LMHead(self.encoder.output_size, cfg.vocab_size, cfg.dropout)
        if cfg.tie_weights:
            # One matrix for reading and writing tokens (Press & Wolf 2017; Inan et al. 2017):
            # fewer parameters and usually lower perplexity.
            self.head.proj.weight = self.encoder.embed.weight

    def forward(self, ids, state=None):
        h, state = self.encoder(ids, state)  # (B, T, H)
        return self.head(h), state

    def nll(self, ids, targets, state=None, reduction: str = "mean"):
        """Next-token NLL of ids (B, T) against targets (B, T), and the new state; an
        adaptive head computes it without scoring the whole vocabulary."""
        h, state = self.encoder(ids, state)  # (B, T, H)
        return self.head.nll(h, targets, reduction), state

    def stepper(self) -> Stepper:
        """One token at a time, for sampling (eval mode), with today's weights: build a new
        one after they change. See stepper.py."""
        return Stepper(self.encoder.stepper(), self.head.scorer())

    def layer_groups(self):
        return layer_groups(self)


class RNNClassifier(nn.Module):
    """ids (B, T), lengths (B,) -> class logits (B, C)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = RNNEncoder(cfg)
        self.head = ClassifierHead(self.encoder.output_size, len(cfg.labels), cfg.pooling,
                                   cfg.dropout, cfg.bidirectional, cfg.head_hidden)

    def forward(self, ids, lengths):
        h, _ = self.encoder(ids, lengths=lengths)  # (B, T, D*H)
        return self.head(h, lengths)

    def layer_groups(self):
        return layer_groups(self)


def build_model(cfg: ModelConfig) -> nn.Module:
    cfg.validate()
    return (RNNLanguageModel if cfg.task == "lm" else RNNClassifier)(cfg)
