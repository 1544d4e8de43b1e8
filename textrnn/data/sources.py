"""Sources -> text: all the text of a source for a language model (a `Corpus`), or the
texts and labels of a source for a classifier (`Labelled`), with label names and ids."""
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .corpus import Corpus
from .streams import RowStream
from .tables import TABLE_FORMATS, TABLES, TEXT_COLUMNS, load_table, pick_column
from .text_files import read_text_file

LABEL_COLUMNS = ("label", "labels", "sentiment", "class", "target")
# The value a Hub ClassLabel column holds for a row with no label: a test split whose
# labels are withheld (GLUE's, so SST-2's) or an unsupervised split (IMDb's) is all -1.
NO_LABEL = -1


def open_corpus(source, text_column=None, split="train", config=None, streaming=False) -> Corpus:
    """All the text of a source, as a `Corpus` read piece by piece.

    A .txt file is read as is, and a folder of .txt files in name order, each ending with
    a newline: both stream from disk. Anything else is a table whose text column is
    joined by newlines (held in memory); with `streaming`, read as a stream, so that one
    split of a Hub dataset is read without the others being downloaded and prepared. A
    list of sources is read one after another.
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise DataError("no training data: pass at least one source")
        return Corpus.concat([open_corpus(s, text_column, split, config, streaming) for s in source])
    path = Path(source)
    if path.is_file() and path.suffix.lower() not in TABLE_FORMATS:
        corpus = Corpus.from_files([path])
    elif path.is_dir() and any(path.glob("*.txt")) and not any(path.glob("README.md")):
        corpus = Corpus.from_files(sorted(path.glob("*.txt")), end_lines=True)
    elif streaming:
        corpus = RowStream(source, text_column, split, config).head()
    else:
        table = load_table(str(source), split, config, reads=f".txt files, a folder of them, {TABLES} "
                           "or a Hub dataset id")
        col = pick_column(table.column_names, text_column, TEXT_COLUMNS, "text")
        corpus = Corpus.from_string("\n".join(t for t in table[col] if t))
    if not corpus.has_text():
        raise DataError(f"{source} holds no text (empty or whitespace only); pass a corpus")
    return corpus


def load_corpus(source, text_column=None, split="train", config=None) -> str:
    """All the text of a source as one string (see `open_corpus`)."""
    return open_corpus(source, text_column, split, config).text()


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
        table = load_table(str(source), split, config, reads=f"{TABLES}, a folder with one sub-folder "
                           "of .txt files per class, or a Hub dataset id")
        if table.num_rows == 0:
            raise DataError(f"{source} has no rows; pass a file with data")
        tcol = pick_column(table.column_names, text_column, TEXT_COLUMNS, "text")
        if not need_labels and label_column is None and not set(LABEL_COLUMNS) & set(table.column_names):
            return Labelled(list(table[tcol]), [])
        lcol = pick_column(table.column_names, label_column, LABEL_COLUMNS, "label")
        names = getattr(table.features[lcol], "names", None)
        data = Labelled(list(table[tcol]), list(table[lcol]), names)
        if not need_labels and _unlabelled_rows(data):
            data = Labelled(data.texts, [], names)  # texts to label, e.g. a Hub test split
    _check_rows(data, source)
    return data


def _check_rows(data: Labelled, source):
    for i, (t, y) in enumerate(zip(data.texts, data.labels or [0] * len(data.texts))):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"{source}: row {i + 1} has an empty or missing text; remove the row")
        if y is None:
            raise DataError(f"{source}: row {i + 1} has no label; remove the row or label it")
    _check_labels(data, source)


def _unlabelled_rows(data: Labelled) -> list[int]:
    """Rows whose label is the "no label" mark -1: any -1 of a declared ClassLabel; among
    plain values only when every row has it (a whole split without labels), since beside
    other values -1 is a class of its own (-1/+1 data)."""
    rows = [i for i, y in enumerate(data.labels) if str(y) == str(NO_LABEL)]
    return rows if data.names or len(rows) == len(data.labels) else []


def _check_labels(data: Labelled, source):
    """Refuse labels that name no class: -1 (no label) and ClassLabel ids out of range.

    Refused, not skipped: every caller needs the labels (training, validation, test,
    `evaluate`), and -1 rows nearly always mean the wrong split was passed (a Hub test
    split is -1 throughout), where skipping would leave nothing, or silently score a
    subset. Kept, they would become class id -1 (a crash later) or, indexing the names
    from the end, silently the last class.
    """
    rows = _unlabelled_rows(data)
    if rows and len(rows) == len(data.labels):
        raise DataError(f"{source}: row {rows[0] + 1} has label -1, and so does every row: "
                        "this split has no labels (-1); pass a labelled split or file")
    if rows:
        raise DataError(f"{source}: row {rows[0] + 1} has no label (-1); label or remove such "
                        "rows, or pass a labelled split or file")
    n = len(data.names or [])
    for i, y in enumerate(data.labels if n else []):
        if not 0 <= y < n:
            raise DataError(f"{source}: row {i + 1} has label {y}, but its ClassLabel declares "
                            f"only ids 0 to {n - 1}; fix the labels")


def label_names(data: Labelled) -> list[str]:
    """Class names, index = class id: a declared ClassLabel's names, else the sorted
    distinct values (numbers in numeric order)."""
    if data.names:
        return list(data.names)
    values = sorted(set(data.labels), key=lambda v: (isinstance(v, str), v))
    return [str(v) for v in values]


def label_ids(data: Labelled, names: list[str], source="data") -> list[int]:
    """Map raw labels to class ids; a label the model never saw, or none (-1), is an error."""
    _check_labels(data, source)
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
