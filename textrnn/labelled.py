"""Labelled text for classification: loading, label names, length-bucketed padded batches."""
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import TEXT_COLUMNS, load_table, pick_column, read_text_file
from .errors import DataError
from .tokenization import PAD_ID, encode_batch

LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "target")


@dataclass
class Labelled:
    texts: list
    labels: list          # raw values as found (int or str)
    names: list | None = None  # class names the source declares (a Hub ClassLabel), if any


def _read_class_folders(root: Path) -> Labelled:
    """root/<class>/*.txt, one text per file (the layout of IMDb's original archive)."""
    texts, labels = [], []
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(cls.glob("*.txt")):
            texts.append(read_text_file(f))
            labels.append(cls.name)
    if not texts:
        raise DataError(f"{root} has no <class>/*.txt files; pass a table or one sub-folder per class")
    return Labelled(texts, labels)


def _is_class_folder(path: Path) -> bool:
    subdirs = [p for p in path.iterdir() if p.is_dir()]
    return bool(subdirs) and all(any(d.glob("*.txt")) for d in subdirs) and not (path / "README.md").exists()


def load_labelled(source, text_column=None, label_column=None, split="train", config=None,
                  need_labels=True) -> Labelled:
    """Texts and labels from a csv/tsv/jsonl/parquet file, a Hub id or Hub-layout folder,
    or a folder with one sub-folder of .txt files per class."""
    path = Path(source)
    if path.is_dir() and _is_class_folder(path):
        data = _read_class_folders(path)
    else:
        table = load_table(str(source), split, config)
        if table.num_rows == 0:
            raise DataError(f"{source} has no rows; pass a file with data")
        tcol = pick_column(table.column_names, text_column, TEXT_COLUMNS, "text")
        if not need_labels and label_column is None and not set(LABEL_COLUMNS) & set(table.column_names):
            return Labelled(list(table[tcol]), [])
        lcol = pick_column(table.column_names, label_column, LABEL_COLUMNS, "label")
        names = getattr(table.features[lcol], "names", None)
        data = Labelled(list(table[tcol]), list(table[lcol]), names)
    _check_rows(data, source)
    return data


def _check_rows(data: Labelled, source):
    for i, (t, y) in enumerate(zip(data.texts, data.labels or [0] * len(data.texts))):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"{source}: row {i + 1} has an empty or missing text; remove the row")
        if y is None:
            raise DataError(f"{source}: row {i + 1} has no label; remove the row or label it")


def label_names(data: Labelled) -> list[str]:
    """Class names, index = class id: a declared ClassLabel's names, else the sorted
    distinct values (numbers in numeric order)."""
    if data.names:
        return list(data.names)
    values = sorted(set(data.labels), key=lambda v: (isinstance(v, str), v))
    return [str(v) for v in values]


def label_ids(data: Labelled, names: list[str], source="data") -> list[int]:
    """Map raw labels to class ids; a label the model never saw is an error."""
    if data.names and list(data.names) == list(names):
        return [int(y) for y in data.labels]
    index = {n: i for i, n in enumerate(names)}
    ids = []
    for y in data.labels:
        key = data.names[y] if data.names else str(y)
        if key not in index:
            raise DataError(f"{source} has label {key!r}, which the model never saw "
                            f"(it knows {', '.join(names)}); fix the labels or retrain")
        ids.append(index[key])
    return ids


def encode_texts(tok, texts: list[str]) -> list[list[int]]:
    """Token ids per text (cut to the tokenizer's truncation length, if it has one); at
    least one token each, since packing needs a length >= 1."""
    return [ids or [PAD_ID] for ids in encode_batch(tok, texts)]


def bucketed_batches(lengths: list[int], batch_size: int, seed: int, shuffle=True,
                     pool: int = 50) -> list[list[int]]:
    """Batches of example indices of similar length, each index exactly once.

    Shuffle, cut into pools of `pool` batches, sort each pool by length and slice it into
    batches, then shuffle the batches: little padding, yet a random order every epoch.
    The order depends only on `seed`, so a resumed run sees the same batches.
    """
    order = list(range(len(lengths)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
    else:  # evaluation: one global sort is best
        order.sort(key=lambda i: lengths[i])
    size = batch_size * pool if shuffle else len(order)
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start:start + size], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(seqs: list[list[int]]):
    """Pad to the longest sequence: ids (B, T) with <pad>, lengths (B,)."""
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.full((len(seqs), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, lengths
