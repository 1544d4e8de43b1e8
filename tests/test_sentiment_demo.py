"""The sentiment demo's data and the settings it relies on: its training data never shows
the held-out everyday set, word dropout reads only real words as <unk>, and a test part
can be held out of one labelled file."""
import csv
import re
from pathlib import Path

import torch

from textrnn.tasks.classify import LabelledDataConfig, unknown_words
from textrnn.tasks.labelled_splits import load_splits

DATA = Path(__file__).resolve().parent.parent / "data"


def rows(name: str) -> list[dict]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def grams(text: str, n: int = 4) -> set:
    w = re.findall(r"[a-z']+", text.lower())
    return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}


def test_the_demo_data_shares_no_sentence_or_4gram_with_the_everyday_set():
    train = [r["text"] for r in rows("sentiment_reviews.csv")]
    everyday = [r["text"] for r in rows("everyday_sentiment.csv")]
    held = set().union(*(grams(t) for t in everyday))
    assert not any(grams(t) & held for t in train)
    assert not {t.lower() for t in train} & {t.lower() for t in everyday}


def test_the_everyday_set_is_balanced_and_half_negation_or_contrast():
    everyday = rows("everyday_sentiment.csv")
    assert len(everyday) >= 60 and {r["label"] for r in everyday} == {"positive", "negative"}
    hard = [r for r in everyday if r["kind"] == "negation_or_contrast"]
    assert len(hard) * 2 >= len(everyday)


def test_word_dropout_replaces_only_real_tokens_at_about_its_rate():
    torch.manual_seed(0)
    ids = torch.randint(2, 50, (64, 40))
    lengths = torch.randint(1, 41, (64,))
    ids[torch.arange(40)[None, :] >= lengths[:, None]] = 0  # padding
    out = unknown_words(ids, lengths, unk=1, p=0.25)
    real = torch.arange(40)[None, :] < lengths[:, None]
    assert torch.equal(out[~real], ids[~real])  # padding untouched
    changed = (out != ids)
    assert bool((out[changed] == 1).all())
    rate = changed[real].float().mean().item()
    assert 0.2 < rate < 0.3


def test_a_test_part_is_held_out_before_validation_and_stratified(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("text,label\n" + "".join(f"text number {i},{'pos' if i % 2 else 'neg'}\n"
                                             for i in range(200)))
    cfg = LabelledDataConfig(data=str(path), val_fraction=0.25, test_fraction=0.2)
    splits = load_splits(cfg, seed=3)
    train, val, test = (set(s.texts) for s in (splits.train, splits.val, splits.test))
    assert len(test) == 40 and len(val) == 40 and len(train) == 120
    assert not (train & test or val & test or train & val)
    assert sorted(splits.y_test).count(0) == 20  # stratified: half of each class
    again = load_splits(cfg, seed=3)
    assert set(again.test.texts) == test  # the same seed, the same held-out part
