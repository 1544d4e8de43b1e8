import random

import pytest
import torch

from textrnn import ModelConfig, build_model, train_tokenizer


def make_text(n_lines=200, seed=0) -> str:
    """A small deterministic play-like corpus with a few non-ASCII characters."""
    rng = random.Random(seed)
    names = ["ANNA", "BORIS", "CLÉO"]
    words = "the sea is calm and the boat is late so we wait by the old café near town".split()
    lines = []
    for _ in range(n_lines):
        lines.append(rng.choice(names) + ":")
        lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))).capitalize() + ".")
        lines.append("")
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    random.seed(0)


@pytest.fixture
def text():
    return make_text()


@pytest.fixture
def char_tok(text):
    return train_tokenizer("char", [text])


def tiny_lm(vocab_size, cell="lstm", **kw):
    cfg = ModelConfig(vocab_size=vocab_size, cell=cell, embed_dim=kw.pop("embed_dim", 12),
                      hidden_size=kw.pop("hidden_size", 16), num_layers=kw.pop("num_layers", 2),
                      dropout=kw.pop("dropout", 0.0), **kw)
    return build_model(cfg)
