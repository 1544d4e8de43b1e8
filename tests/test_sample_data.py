"""The generated sentiment sample: the script rewrites the bundled file exactly, and the
sentences the recipe prints are not in it."""
import csv
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generator():
    spec = importlib.util.spec_from_file_location("make_reviews", ROOT / "data/make_sentiment_reviews.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bundled_reviews_are_what_the_script_generates(tmp_path, monkeypatch):
    gen = generator()
    monkeypatch.setattr(gen, "OUT", tmp_path / "reviews.csv")
    gen.main()
    assert (tmp_path / "reviews.csv").read_bytes() == (ROOT / "data/sentiment_reviews.csv").read_bytes()


def test_the_recipe_examples_are_held_out_and_labels_follow_the_last_word_of_a_contrast():
    gen = generator()
    rows = list(csv.DictReader(open(ROOT / "data/sentiment_reviews.csv", encoding="utf-8")))
    texts = {r["text"] for r in rows}
    assert not texts & gen.HELD_OUT
    recipe = (ROOT / "recipes/sentiment.py").read_text()
    assert all(f'"{s}"' in recipe for s in gen.HELD_OUT)
    label = {r["text"]: r["label"] for r in rows}
    checked = 0
    for text, y in label.items():  # "A but B" sides with B, whatever A says
        b = text.split(" but ", 1)[-1]
        if " but " in text and not text.startswith("although") and b in label:
            assert label[b] == y, text
            checked += 1
    assert checked > 100  # B is often also a review of its own
