"""Start from a trained language model: continue it on new text, with its vocabulary grown
(the new rows of its weights), or turn its encoder into a classifier's (the ULMFiT recipe,
Howard & Ruder 2018)."""
from dataclasses import replace

import torch

from .config import ModelConfig
from .errors import ConfigError, setting_name
from .models import RNNClassifier

# What the weights fix; everything else (dropouts, pooling, labels) the new run may choose.
ENCODER_ARCHITECTURE = ("cell", "activation", "embed_dim", "hidden_size", "num_layers", "conv_kernel")


def resize_vocab(model, vocab_size: int):
    """A copy of language model `model` with `vocab_size` tokens: old rows bit-identical,
    new rows the mean of the old ones (ULMFiT's initialisation for words the pretrained
    model lacks)."""
    cfg = model.cfg
    old_n = cfg.vocab_size
    # The new tokens join the last adaptive-softmax cluster: the head keeps its shape
    # apart from the rows.
    cutoffs = cfg.head.tail_cutoffs(old_n)
    new = type(model)(replace(cfg, vocab_size=vocab_size, head=replace(cfg.head, adaptive_cutoffs=cutoffs)))
    state = model.state_dict()
    for name in ("encoder.embed.weight", "head.proj.weight", "head.proj.bias"):
        if name in state and state[name].size(0) == old_n:
            old = state[name]
            extra = old.mean(0, keepdim=True).expand(vocab_size - old_n, *old.shape[1:])
            state[name] = torch.cat([old, extra])
    new.load_state_dict(state)
    return new


def continue_config(base: ModelConfig, wanted: ModelConfig, head=None) -> ModelConfig:
    """`wanted` with the vocabulary and encoder architecture of `base` (which its weights
    fix), and `head` (by default the base's own)."""
    fixed = {k: getattr(base.encoder, k) for k in ENCODER_ARCHITECTURE}
    return replace(wanted, tokenizer=base.tokenizer, vocab_size=base.vocab_size,
                   encoder=replace(wanted.encoder, **fixed), head=head or base.head)


def with_config(model, cfg: ModelConfig):
    """The same weights in a model of the same class built from `cfg` (same architecture,
    other dropouts)."""
    new = type(model)(cfg)
    new.load_state_dict(model.state_dict())
    return new


def classifier_from_lm(lm, wanted: ModelConfig, labels: list[str]):
    """A classifier whose embedding and recurrent layers are the LM's; the head is new. A
    backward LM (train-lm --reverse) gives a classifier that reads each text backwards, as
    its encoder learnt to (ULMFiT's backward model)."""
    if wanted.encoder.bidirectional:
        raise ConfigError(f"{setting_name('init_from')} a language model needs a unidirectional "
                          f"classifier; drop {setting_name('bidirectional')}")
    cfg = continue_config(lm.cfg, wanted, head=replace(wanted.head, labels=labels,
                                                       reverse=lm.cfg.head.reverse))
    clf = RNNClassifier(cfg)
    clf.encoder.load_state_dict(lm.encoder.state_dict())
    return clf
