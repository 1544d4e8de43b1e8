"""The small labelled sets of bench/small_data.py, built from the shared data's files.

- SST-2 subsets: 2,000, 4,000 and 8,000 examples drawn (seed 0, nested: the smaller is the
  start of the larger) from SST-2's GLUE training set (sentences and their labelled phrases,
  `train_phrases.tsv`); validation and test are the sentence-level dev and test files.
- Five sources: single sentences labelled by where they come from: Multi30k's English
  captions, IMDb reviews, SST-2's movie-review sentences, EWT's web text and Tiny Shakespeare.
  Every sentence is normalised the same way so that no source gives itself away by its
  format: SST-2's tokenisation undone (`does n't` -> `doesn't`, `-lrb-` -> `(`), HTML breaks
  removed, lower-cased, words and marks split by one rule and rejoined with spaces, the final
  marks dropped (captions have none). Sentences of 5 to 40 words, each kept once; per source
  800 training, 200 validation and 400 test sentences (seed 0).
"""
import csv
import random
import re
from pathlib import Path

from cnn_rand import words

SST2_SIZES = (2000, 4000, 8000)
SOURCES = ("captions", "imdb", "sst2", "web", "shakespeare")
PER_SOURCE = {"train": 800, "val": 200, "test": 400}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
SST_UNDO = [(" n't", "n't"), (" 's", "'s"), (" 're", "'re"), (" 've", "'ve"), (" 'll", "'ll"),
            (" 'd", "'d"), (" 'm", "'m"), ("-lrb-", "("), ("-rrb-", ")"), ("`` ", '"'), (" ''", '"')]


def read_tsv(path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(r["sentence"], r["label"]) for r in rows]


def write_tsv(path: Path, rows) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        f.writelines(f"{text}\t{label}\n" for text, label in rows)
    return str(path)


def sst2_subsets(sst2: Path, out: Path) -> dict:
    """{name: (train, val, test) paths} for each size in SST2_SIZES."""
    rows = read_tsv(sst2 / "train_phrases.tsv")
    random.Random(0).shuffle(rows)
    return {f"sst2_{n}": (write_tsv(out / f"sst2_{n}" / "train.tsv", rows[:n]),
                          str(sst2 / "dev.tsv"), str(sst2 / "test.tsv")) for n in SST2_SIZES}


def normalise(text: str) -> str:
    marks = words(text.replace('"', " "))  # the CNN's rule: lower-cased words and marks
    while marks and not re.match(r"[\w']", marks[-1]):
        marks.pop()
    return " ".join(marks)


def sentences(text: str) -> list[str]:
    return SENTENCE_END.split(text.replace("<br />", " "))


def source_texts(shared: Path) -> dict:
    """{source: raw sentences} read from the shared data's files."""
    import pandas as pd

    sst = []
    for text, _ in read_tsv(shared / "sst2" / "train.tsv"):
        for a, b in SST_UNDO:
            text = text.replace(a, b)
        sst.append(text)
    imdb = [s for t in pd.read_parquet(shared / "imdb" / "train.parquet")["text"][:4000]
            for s in sentences(t)]
    web = [line[len("# text = "):] for line in open(shared / "ud_ewt" / "train.conllu", encoding="utf-8")
           if line.startswith("# text = ")]
    # Tiny Shakespeare: each speech (the lines after a speaker's name) split into sentences
    speeches = (shared / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").split("\n\n")
    play = [s for speech in speeches for s in sentences(" ".join(speech.splitlines()[1:]))]
    captions = (shared / "multi30k" / "train.en").read_text(encoding="utf-8").splitlines()
    return {"captions": captions, "imdb": imdb, "sst2": sst, "web": web, "shakespeare": play}


def five_sources(shared: Path, out: Path) -> dict:
    """{"sources_5": (train, val, test) paths}: the five-source set described above."""
    rng = random.Random(0)
    splits = {name: [] for name in PER_SOURCE}
    for source, raw in source_texts(shared).items():
        kept = sorted({s for s in map(normalise, raw) if 5 <= len(s.split()) <= 40})
        rng.shuffle(kept)
        need = sum(PER_SOURCE.values())
        if len(kept) < need:
            raise SystemExit(f"{source}: {len(kept)} sentences, {need} needed")
        start = 0
        for name, n in PER_SOURCE.items():
            splits[name] += [(s, source) for s in kept[start:start + n]]
            start += n
    for rows in splits.values():
        rng.shuffle(rows)
    return {"sources_5": tuple(write_tsv(out / "sources_5" / f"{name}.tsv", rows)
                               for name, rows in splits.items())}


def build(shared: Path, out: Path) -> dict:
    return {**sst2_subsets(shared / "sst2", out), **five_sources(shared, out)}
