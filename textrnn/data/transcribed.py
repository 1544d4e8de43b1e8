"""Sources of transcribed audio -> clips (where each one's audio is; read later, one batch at
a time) and their transcripts:

- a folder of audio files with one transcript table (csv/tsv/jsonl) beside them;
- a table whose rows name audio files (paths relative to the table's folder);
- a Hub dataset id, or a folder laid out as the Hub lays one out, with an audio column:
  read with `Audio(decode=False)` (the bytes and the file's name, as stored) and decoded by
  this project's reader (audio.py), since `datasets`' own decoder needs torchcodec and FFmpeg.
"""
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .audio import AUDIO_SUFFIXES, Clip
from .tables import TABLE_FORMATS, TABLES, load_table, pick_column

PATH_COLUMNS = ("path", "file", "file_name", "filename", "audio", "wav", "clip")
TRANSCRIPT_COLUMNS = ("text", "transcript", "transcription", "sentence", "normalized_text")
READS = (f"a folder of audio files with a transcript table, {TABLES} naming audio files, or a "
         "Hub dataset id with an audio column")


class HubClips:
    """The clips of a Hub dataset's audio column, read row by row from its memory-mapped
    table (never all the bytes at once)."""

    def __init__(self, table, column: str, source):
        self.table, self.column, self.source = table, column, source

    def __len__(self):
        return self.table.num_rows

    def __getitem__(self, i: int) -> Clip:
        value = self.table[i][self.column]
        name = f"{self.source} row {i + 1}"
        if isinstance(value, dict) and value.get("bytes"):
            return Clip(data=value["bytes"], name=f"{name} ({value.get('path') or 'audio'})")
        if isinstance(value, dict) and value.get("path"):
            return Clip(path=value["path"], name=f"{name} ({value['path']})")
        raise DataError(f"{name} has no audio (neither bytes nor a path); remove the row")


@dataclass
class Transcribed:
    """Clips (`clips[i]`: where clip i's audio is, read when asked for) and their transcripts
    (`texts[i]`), as `load_transcribed` returns them."""
    clips: object   # a list of Clip, or HubClips: len() and [i]
    texts: list

    def __len__(self):
        return len(self.texts)


def _table_in(folder: Path) -> Path | None:
    """The one transcript table beside a folder's audio files, if it holds audio files."""
    if not any(p.suffix.lower() in AUDIO_SUFFIXES for p in folder.rglob("*") if p.is_file()):
        return None
    tables = sorted(p for p in folder.iterdir() if p.suffix.lower() in TABLE_FORMATS)
    if len(tables) != 1:
        found = ", ".join(p.name for p in tables) or "none"
        raise DataError(f"{folder} holds audio files and {len(tables)} transcript tables "
                        f"({found}); keep exactly one table (path, text) beside the audio")
    return tables[0]


def load_transcribed(source, audio_column=None, text_column=None, split="train",
                     config=None) -> Transcribed:
    """Clips and transcripts from `source` (see the module's docstring)."""
    path = Path(str(source))
    table_file = _table_in(path) if path.is_dir() else path if path.is_file() else None
    if table_file is not None:
        return _from_table_file(table_file, audio_column, text_column)
    table = load_table(str(source), split, config, reads=READS)
    return _from_hub_table(table, source, audio_column, text_column)


def _from_table_file(path: Path, audio_column, text_column) -> Transcribed:
    table = load_table(str(path), reads=READS)
    if table.num_rows == 0:
        raise DataError(f"{path} has no rows; list the clips (path, text)")
    pcol = pick_column(table.column_names, audio_column, PATH_COLUMNS, "audio")
    tcol = pick_column(table.column_names, text_column, TRANSCRIPT_COLUMNS, "text")
    clips, texts = [], []
    for i, (name, text) in enumerate(zip(table[pcol], table[tcol])):
        where = f"{path} row {i + 1}"
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{where} names no audio file; fill in its {pcol!r}")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where} has an empty transcript; remove the row or transcribe it")
        file = Path(name) if Path(name).is_absolute() else path.parent / name
        if not file.is_file():
            raise DataError(f"{where}: no audio file {file}; check the path (relative to the table)")
        clips.append(Clip(path=str(file)))
        texts.append(text)
    return Transcribed(clips, texts)


def _from_hub_table(table, source, audio_column, text_column) -> Transcribed:
    import datasets

    audio = [n for n, f in table.features.items() if isinstance(f, datasets.Audio)]
    column = audio_column or (audio[0] if audio else None)
    if column is None or column not in table.column_names:
        raise DataError(f"{source} has no audio column (columns: {', '.join(table.column_names)}); "
                        f"pass --audio-column, or {READS}")
    if isinstance(table.features[column], datasets.Audio):
        table = table.cast_column(column, datasets.Audio(decode=False))
    tcol = pick_column(table.column_names, text_column, TRANSCRIPT_COLUMNS, "text")
    texts = list(table[tcol])
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{source} row {i + 1} has an empty transcript; remove the row or "
                            "transcribe it")
    return Transcribed(HubClips(table.remove_columns([c for c in table.column_names
                                                      if c not in (column,)]), column, source), texts)
