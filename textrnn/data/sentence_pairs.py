"""Parallel text for translation: each source sentence with its translation.

Three layouts are read:
- two plain-text files, line i of one translating line i of the other (Multi30k, the text
  releases of WMT and IWSLT);
- one csv/tsv/jsonl/parquet table with a source and a target column;
- a Hugging Face Hub dataset (or a folder in the Hub's layout) whose rows hold a
  translation dict, {"de": "...", "en": "..."}, as the Hub's WMT and IWSLT sets do.
Every pair needs text on both sides; a file pair must have as many lines on each side.
"""
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError, setting_name
from .tables import TABLE_FORMATS, TABLES, load_table
from .text_files import read_lines


@dataclass
class Pairs:
    sources: list[str]
    targets: list[str]

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, idx) -> "Pairs":
        return Pairs([self.sources[i] for i in idx], [self.targets[i] for i in idx])


def load_pairs(data, source_column=None, target_column=None, source_lang=None, target_lang=None,
               split: str = "train", config: str | None = None) -> Pairs:
    """Pairs from two text files, one table, or a Hub dataset (see the module's text)."""
    paths = [data] if isinstance(data, (str, Path)) else list(data)
    if len(paths) == 2:
        return _checked(_line_pairs(*map(Path, paths)), f"{paths[0]} and {paths[1]}")
    if len(paths) != 1:
        raise ConfigError(f"parallel data is two text files (source, then target), one table or "
                          f"one Hub dataset id; got {len(paths)} paths")
    one = Path(paths[0])
    if one.is_file() and one.suffix.lower() not in TABLE_FORMATS:
        raise DataError(f"{one} is one text file; parallel data is two (source, then target, "
                        "line by line), or a table with a column for each side")
    table = load_table(str(paths[0]), split, config, reads=f"two text files, {TABLES} or a Hub dataset id")
    if "translation" in table.column_names and source_column is None:
        pairs = _translation_dicts(table["translation"], source_lang, target_lang, paths[0])
    else:
        pairs = _columns(table, source_column, target_column, paths[0])
    return _checked(pairs, str(paths[0]))


def _line_pairs(source: Path, target: Path) -> Pairs:
    for p in (source, target):
        if not p.is_file():
            raise DataError(f"{p} does not exist; pass two text files, source then target, one "
                            "sentence per line")
    src, tgt = read_lines(source), read_lines(target)
    if len(src) != len(tgt):
        raise DataError(f"{source} has {len(src):,} lines and {target} has {len(tgt):,}; line i of "
                        "one must translate line i of the other")
    return Pairs(src, tgt)


def _translation_dicts(rows, source_lang, target_lang, where) -> Pairs:
    found = sorted(rows[0]) if rows and isinstance(rows[0], dict) else []
    if source_lang is None or target_lang is None:
        raise ConfigError(f"{where} holds translations in {', '.join(found) or 'no language'}; "
                          f"name the two with {setting_name('source_lang')} and {setting_name('target_lang')}")
    for lang in (source_lang, target_lang):
        if lang not in found:
            raise DataError(f"{where} has no language {lang!r}; its translations are in "
                            f"{', '.join(found) or 'no language'}")
    return Pairs([r[source_lang] or "" for r in rows], [r[target_lang] or "" for r in rows])


def _columns(table, source_column, target_column, where) -> Pairs:
    names = table.column_names
    if source_column is None or target_column is None:
        raise ConfigError(f"name the columns of {where} with {setting_name('source_column')} and "
                          f"{setting_name('target_column')}; "
                          f"its columns: {', '.join(names)}")
    for c in (source_column, target_column):
        if c not in names:
            raise DataError(f"{where} has no column {c!r}; its columns: {', '.join(names)}")
    return Pairs([str(x or "") for x in table[source_column]], [str(x or "") for x in table[target_column]])


def _checked(pairs: Pairs, where: str) -> Pairs:
    if not len(pairs):
        raise DataError(f"{where} holds no sentence pairs; pass files with one sentence per line")
    empty = [i for i, (s, t) in enumerate(zip(pairs.sources, pairs.targets)) if not s.strip() or not t.strip()]
    if empty:
        raise DataError(f"{where}: {len(empty):,} of {len(pairs):,} pairs have an empty side (the "
                        f"first: pair {empty[0] + 1}); remove them, keeping the two sides in step")
    return pairs
