"""Texts to use a run on, as a command takes them: arguments, or the lines of a file."""
from dataclasses import dataclass
from pathlib import Path

from ..data.text_files import read_lines
from ..errors import ConfigError, DataError, setting_name
from ..settings import setting


@dataclass
class TextInput:
    texts: list = setting([], "texts, each one argument", positional=True, nargs="*")
    input: str | None = setting(None, "a UTF-8 file with one text per line, after the arguments'")
    json: bool = setting(False, "one JSON object per line")


def texts_of(settings: TextInput, doing: str) -> list[str]:
    """The texts given as arguments, then each non-empty line of the input file."""
    texts = list(settings.texts)
    if settings.input:
        texts += [line for line in read_lines(Path(settings.input)) if line.strip()]
        if not texts:
            raise DataError(f"{settings.input} holds no text; pass a UTF-8 file with one text per line")
    if not texts:
        raise ConfigError(f"no text to {doing}; pass texts as arguments or {setting_name('input')} FILE")
    return texts
