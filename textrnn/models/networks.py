"""The two task models: an encoder plus a head. They know nothing about training."""
from torch import nn

from ..config import ModelConfig
from .encoder import RNNEncoder
from .heads import ClassifierHead, LMHead


class RNNLanguageModel(nn.Module):
    """ids (B, T), state -> next-token logits (B, T, vocab), new state."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = RNNEncoder(cfg)
        self.head = LMHead(self.encoder.output_size, cfg.vocab_size)
        if cfg.tie_weights:
            # One matrix for reading and writing tokens (Press & Wolf 2017; Inan et al. 2017):
            # fewer parameters and usually lower perplexity.
            self.head.proj.weight = self.encoder.embed.weight

    def forward(self, ids, state=None):
        h, state = self.encoder(ids, state)  # (B, T, H)
        return self.head(h), state


class RNNClassifier(nn.Module):
    """ids (B, T), lengths (B,) -> class logits (B, C)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = RNNEncoder(cfg)
        self.head = ClassifierHead(self.encoder.output_size, len(cfg.labels), cfg.pooling,
                                   cfg.dropout, cfg.bidirectional)

    def forward(self, ids, lengths):
        h, _ = self.encoder(ids, lengths=lengths)  # (B, T, D*H)
        return self.head(h, lengths)


def build_model(cfg: ModelConfig) -> nn.Module:
    cfg.validate()
    return (RNNLanguageModel if cfg.task == "lm" else RNNClassifier)(cfg)
