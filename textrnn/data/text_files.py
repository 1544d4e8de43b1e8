"""Step 1 of the data path: UTF-8 text files, decoded a block at a time, so that a file
of hundreds of megabytes is never held in memory whole and a binary or non-UTF-8 file
is refused by name before anything else reads it."""
import codecs
from pathlib import Path
from typing import Iterator

from ..errors import DataError

BLOCK = 1 << 20   # bytes read from a file at a time


def _decode_block(path: Path, data: bytes, offset: int, decoder) -> str:
    """Decode one block of `path`, refusing binary files and invalid UTF-8 by name."""
    if offset == 0 and b"\x00" in data[:8192]:
        raise DataError(f"{path} looks binary (it holds NUL bytes); pass a UTF-8 text file")
    try:
        return decoder.decode(data)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not valid UTF-8 (bad byte at offset {offset + exc.start}); "
                        "convert it, e.g. iconv -f latin1 -t utf-8") from None


def iter_text_file(path: Path) -> Iterator[str]:
    """The decoded text of a UTF-8 file, a block at a time, newlines as written. A leading
    byte-order mark (files saved by Notepad or exported by Excel) is not part of the text."""
    # "utf-8-sig" drops a BOM at the very start only; a U+FEFF further on stays
    decoder, offset = codecs.getincrementaldecoder("utf-8-sig")(), 0
    try:
        with open(path, "rb") as f:
            while data := f.read(BLOCK):
                yield _decode_block(path, data, offset, decoder)
                offset += len(data)
        decoder.decode(b"", final=True)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}; check the path and permissions") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not valid UTF-8 (it ends inside a character); convert "
                        "it to UTF-8") from None


def read_text_file(path: Path) -> str:
    """Read a UTF-8 text file, with newlines as written (no universal-newline rewriting)."""
    return "".join(iter_text_file(Path(path)))


def read_lines(path: Path) -> list[str]:
    """A UTF-8 text file's lines, without their line ends ("\n" or "\r\n"); the newline
    that ends the last line starts no line of its own."""
    lines = read_text_file(path).split("\n")  # "\n" only: splitlines() also breaks at U+2028
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def check_text_file(path: Path) -> None:
    """Refuse a binary or non-UTF-8 file before a table reader chokes on it, reading it
    in blocks (a table may be far larger than memory allows as one string)."""
    for _ in iter_text_file(Path(path)):
        pass
