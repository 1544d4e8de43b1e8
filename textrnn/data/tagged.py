"""Tagged sentences (a tag per word) for a tagger: CoNLL column files, CoNLL-U, tables with a
list of words and a list of tags per row, and Hub datasets whose tags are class labels.

Which reader a source gets: a `.conllu` file is CoNLL-U; a csv/tsv/jsonl/json/parquet file,
a folder in the Hub's layout or a Hub id is a table; any other file is CoNLL columns.
"""
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, setting_name
from .tables import TABLE_FORMATS, TABLES, load_table, pick_column
from .text_files import read_lines

TOKEN_COLUMNS = ("tokens", "words", "text", "sentence")
TAG_COLUMNS = ("tags", "ner_tags", "pos_tags", "upos", "labels", "label")
CONLLU_TAGS = {"upos": 3, "xpos": 4}
DOCSTART = "-DOCSTART-"
# Raw text to words (`textrnn tag` without --pretokenized): a word is a run of letters and
# digits, joined through an inner hyphen, apostrophe, period or comma followed by more of
# them ("well-known", "O'Neil", "U.S", "3.5", "1,000"); every other visible character is a
# word of its own. "n't" and "'s" stay with their word: a model trained on words split as
# in the Penn Treebank reads them as unknown words, by their characters.
WORD = re.compile(r"\w+(?:[-'’.,]\w+)*|[^\w\s]")


@dataclass
class Tagged:
    sentences: list   # list[list[str]]: each sentence's words
    tags: list        # list[list[str]]: a tag per word
    lines: list | None = None  # list[list[int]]: each word's line, where read from a column file

    def add(self, words: list, tags: list, lines: list) -> None:
        """A sentence read from a column file (none if it has no words)."""
        if words:
            self.sentences.append(words)
            self.tags.append(tags)
            self.lines.append(lines)

    def subset(self, ids) -> "Tagged":
        return Tagged([self.sentences[i] for i in ids], [self.tags[i] for i in ids],
                      [self.lines[i] for i in ids] if self.lines else None)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) of each word of raw text, by the rule of WORD above."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def where(data: Tagged, n: int) -> str:
    return f"sentence {n + 1} (line {data.lines[n][0]})" if data.lines else f"sentence {n + 1} (row {n + 1})"


def load_tagged(source, token_column: int = 0, tag_column: str | None = None, text_column=None,
                label_column=None, split: str = "train", config=None, max_length: int = 0) -> Tagged:
    """The tagged sentences of `source` (see the module's docstring), checked: at least one
    sentence, as many tags as words in each, and none longer than `max_length` words (0:
    any length)."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".conllu":
        data = read_conllu(path, tag_column or "upos")
    elif path.is_file() and path.suffix.lower() not in TABLE_FORMATS:
        data = read_columns(path, token_column, column_number(tag_column))
    else:
        data = read_table(str(source), text_column, label_column, split, config)
    check_sentences(data, source, max_length)
    return data


def column_number(tag_column) -> int | None:
    """--tag-column of a CoNLL column file: a 0-based number (None: the last column)."""
    if tag_column is None:
        return None
    try:
        return int(tag_column)
    except ValueError:
        raise DataError(f"{setting_name('tag_column', tag_column)} is not a column number; a CoNLL "
                        "column file takes one counted from 0 (default: the last), and only a "
                        ".conllu file takes upos or xpos") from None


def _sentences(path: Path):
    """[(line number, line)] of each blank-line-separated block."""
    block = []
    for number, line in enumerate(read_lines(path), 1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def read_columns(path: Path, token_column: int = 0, tag_column: int | None = None) -> Tagged:
    """CoNLL columns: a word per line, fields split by spaces or tabs, a blank line after each
    sentence; -DOCSTART- lines (CoNLL-2003's document marks) are skipped."""
    data = Tagged([], [], [])
    for block in _sentences(path):
        words, tags, lines = [], [], []
        for number, line in block:
            fields = line.split()
            if fields[0] == DOCSTART:
                continue
            tag = len(fields) - 1 if tag_column is None else tag_column
            for name, col in (("token", token_column), ("tag", tag)):
                if not 0 <= col < len(fields) or (name == "tag" and len(fields) < 2):
                    raise DataError(f"{path}: line {number} has {len(fields)} column(s) (0 to "
                                    f"{len(fields) - 1}), so {setting_name(name + '_column', col)} "
                                    "is not there; pass the column that holds the "
                                    f"{name}s, counted from 0")
            words.append(fields[token_column])
            tags.append(fields[tag])
            lines.append(number)
        data.add(words, tags, lines)
    return data


def read_conllu(path: Path, tag_column: str = "upos") -> Tagged:
    """CoNLL-U: each word's FORM and its UPOS or XPOS; comment lines, multiword-token ranges
    ("1-2") and empty nodes ("8.1") are skipped."""
    if tag_column not in CONLLU_TAGS:
        raise DataError(f"a CoNLL-U file's tags are upos or xpos; {setting_name('tag_column', tag_column)} "
                        "is neither")
    data, col = Tagged([], [], []), CONLLU_TAGS[tag_column]
    for block in _sentences(path):
        words, tags, lines = [], [], []
        for number, line in block:
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 10 or not re.fullmatch(r"\d+(-\d+|\.\d+)?", fields[0]):
                raise DataError(f"{path}: line {number} is not a CoNLL-U word line (10 tab-separated "
                                "fields, the first a word number); fix or remove the line")
            if not fields[0].isdigit():
                continue  # a multiword token's range or an empty node: not a word of its own
            if fields[col] == "_":
                raise DataError(f"{path}: line {number} has no {tag_column.upper()} (\"_\"); pass "
                                f"{setting_name('tag_column', 'upos' if col == 4 else 'xpos')} or "
                                "tagged data")
            words.append(fields[1])
            tags.append(fields[col])
            lines.append(number)
        data.add(words, tags, lines)
    return data


def read_words(path) -> list[list[str]]:
    """The sentences of words of a file to tag: a .conllu file's FORMs, else the first column
    of CoNLL columns (tags, if any, ignored; -DOCSTART- lines skipped)."""
    path = Path(path)
    sentences = []
    for block in _sentences(path):
        if path.suffix.lower() == ".conllu":
            fields = [line.split("\t") for _, line in block if not line.startswith("#")]
            words = [f[1] for f in fields if len(f) > 1 and f[0].isdigit()]
        else:
            words = [line.split()[0] for _, line in block if line.split()[0] != DOCSTART]
        if words:
            sentences.append(words)
    if not sentences:
        raise DataError(f"{path} holds no words; pass a file with a word per line and a blank line "
                        "after each sentence")
    return sentences


def read_table(source: str, text_column=None, label_column=None, split="train", config=None) -> Tagged:
    """A table with a list of words and a list of tags per row (in CSV, space-separated
    strings); a Hub dataset's tags may be class labels, named by its features."""
    table = load_table(source, split, config, reads=f"a .conll or .conllu file, {TABLES} or a Hub "
                       "dataset id")
    words = pick_column(table.column_names, text_column, TOKEN_COLUMNS, "text")
    tags = pick_column(table.column_names, label_column, TAG_COLUMNS, "label")
    names = getattr(getattr(table.features[tags], "feature", None), "names", None)

    def as_list(value, row: int, what: str) -> list:
        if isinstance(value, str):
            return value.split()
        if not isinstance(value, (list, tuple)):
            raise DataError(f"{source}: row {row}'s {what} column holds {value!r}, not a list with one "
                            f"entry per word; a tagger reads a list of words and a list of tags per row")
        return list(value)
    data = Tagged([[str(w) for w in as_list(v, row, "word")] for row, v in enumerate(table[words], 1)], [], None)
    for row, values in enumerate(table[tags], 1):
        values = as_list(values, row, "tag")
        if names:
            bad = [v for v in values if not isinstance(v, int) or not 0 <= v < len(names)]
            if bad:
                raise DataError(f"{source}: row {row} has tag {bad[0]}, but the dataset declares "
                                f"only ids 0 to {len(names) - 1}; fix the tags")
            values = [names[v] for v in values]
        data.tags.append([str(v) for v in values])
    return data


def check_sentences(data: Tagged, source, max_length: int = 0) -> None:
    if not data.sentences:
        raise DataError(f"{source} holds no tagged sentences; pass a file with a word and its tag "
                        "per line and a blank line after each sentence")
    for n, (words, tags) in enumerate(zip(data.sentences, data.tags)):
        if len(words) != len(tags):
            raise DataError(f"{source}: {where(data, n)} has {len(words)} words but {len(tags)} "
                            "tags; every word needs one tag")
        if not words:
            raise DataError(f"{source}: {where(data, n)} has no words; remove the row")
        if max_length and len(words) > max_length:
            raise DataError(f"{source}: {where(data, n)} has {len(words)} words, more than "
                            f"{setting_name('max_length', max_length)}; split it, or raise the cap")
        if any(not w or w.isspace() for w in words):
            raise DataError(f"{source}: {where(data, n)} has an empty word; fix the row")
