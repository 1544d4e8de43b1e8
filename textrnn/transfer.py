"""Start from a trained language model: continue it on new text, grow its vocabulary, or
turn its encoder into a classifier's (the ULMFiT recipe, Howard & Ruder 2018)."""
import json
from dataclasses import replace

import torch
from tokenizers import Tokenizer, trainers

from .config import ModelConfig
from .errors import ConfigError
from .models import RNNClassifier
from .tokenization import SPECIAL_TOKENS

# What the weights fix; everything else (dropouts, pooling, labels) the new run may choose.
ENCODER_ARCHITECTURE = ("cell", "activation", "embed_dim", "hidden_size", "num_layers", "conv_kernel")


def extend_tokenizer(old: Tokenizer, texts: list[str], vocab_size: int) -> Tokenizer:
    """The old vocabulary, ids unchanged, plus the tokens a tokenizer of the same kind
    learns from `texts` that the old one lacks (appended at the end; BPE merges too)."""
    fresh = Tokenizer.from_str(old.to_str())  # same normalizer and pre-tokenizer
    kind = json.loads(old.to_str())["model"]["type"]
    if kind == "BPE":
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                      show_progress=False)
    else:
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    fresh.train_from_iterator(texts, trainer=trainer)
    merged = json.loads(old.to_str())
    vocab = merged["model"]["vocab"]
    for token, _ in sorted(json.loads(fresh.to_str())["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if token not in vocab:
            vocab[token] = len(vocab)
    if kind == "BPE":
        known = {json.dumps(m) for m in merged["model"]["merges"]}
        merged["model"]["merges"] += [m for m in json.loads(fresh.to_str())["model"]["merges"]
                                      if json.dumps(m) not in known]
    return Tokenizer.from_str(json.dumps(merged))


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
    """A classifier whose embedding and recurrent layers are the LM's; the head is new."""
    if wanted.encoder.bidirectional:
        raise ConfigError("--init-from a language model needs a unidirectional classifier; "
                          "drop --bidirectional")
    cfg = continue_config(lm.cfg, wanted, head=replace(wanted.head, labels=labels))
    clf = RNNClassifier(cfg)
    clf.encoder.load_state_dict(lm.encoder.state_dict())
    return clf
