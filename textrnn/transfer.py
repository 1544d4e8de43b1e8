"""Start from a trained language model: continue it on new text, grow its vocabulary, or
turn its encoder into a classifier's (the ULMFiT recipe, Howard & Ruder 2018)."""
import json
from dataclasses import asdict, replace

import torch
from tokenizers import Tokenizer, trainers

from .checkpoint import load_pretrained, read_config
from .config import ModelConfig
from .errors import ConfigError
from .models import build_model
from .tokenization import SPECIAL_TOKENS

# What the weights fix; everything else (dropouts, pooling, labels) the new run may choose.
ARCHITECTURE = ("tokenizer", "vocab_size", "cell", "activation", "embed_dim", "hidden_size",
                "num_layers", "conv_kernel", "tie_weights", "adaptive_cutoffs")


def load_language_model(run_dir, tokenizer_kind=None):
    """(model, tokenizer) of an LM run folder, refusing classifiers and a kind mismatch."""
    cfg = read_config(run_dir)
    if cfg.task != "lm":
        raise ConfigError(f"--init-from {run_dir} holds a {cfg.task}, not a language model; "
                          "pass a run folder written by train-lm or recipes/generate.py")
    if tokenizer_kind is not None and tokenizer_kind != cfg.tokenizer:
        raise ConfigError(f"--tokenizer {tokenizer_kind} differs from the {cfg.tokenizer} tokenizer "
                          f"of {run_dir}; drop --tokenizer to reuse it")
    model, tokenizer, _ = load_pretrained(run_dir)
    return model.train(), tokenizer


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
    """A copy of `model` with `vocab_size` tokens: old rows bit-identical, new rows the
    mean of the old ones (ULMFiT's initialisation for words the pretrained model lacks)."""
    old_n = model.cfg.vocab_size
    # The new tokens join the last cluster: the head keeps its shape apart from the rows.
    new = build_model(replace(model.cfg, vocab_size=vocab_size, adaptive_cutoffs=model.cfg.tail_cutoffs()))
    state = model.state_dict()
    for name in ("encoder.embed.weight", "head.proj.weight", "head.proj.bias"):
        if name in state and state[name].size(0) == old_n:
            old = state[name]
            extra = old.mean(0, keepdim=True).expand(vocab_size - old_n, *old.shape[1:])
            state[name] = torch.cat([old, extra])
    new.load_state_dict(state)
    return new


def continue_config(base: ModelConfig, wanted: ModelConfig, **fixed) -> ModelConfig:
    """`wanted` with the architecture of `base` (which its weights fix) and `fixed` on top."""
    return ModelConfig(**{**asdict(wanted), **{k: getattr(base, k) for k in ARCHITECTURE}, **fixed})


def with_config(model, cfg: ModelConfig):
    """The same weights in a model built from `cfg` (same architecture, other dropouts)."""
    new = build_model(cfg)
    new.load_state_dict(model.state_dict())
    return new


def classifier_from_lm(lm, wanted: ModelConfig, labels: list[str]):
    """A classifier whose embedding and recurrent layers are the LM's; the head is new."""
    if wanted.bidirectional:
        raise ConfigError("--init-from a language model needs a unidirectional classifier; "
                          "drop --bidirectional")
    cfg = continue_config(lm.cfg, wanted, task="classifier", labels=labels, tie_weights=False,
                          adaptive_cutoffs=[])
    clf = build_model(cfg)
    clf.encoder.load_state_dict(lm.encoder.state_dict())
    return clf
