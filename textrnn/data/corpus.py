"""A language-model corpus read piece by piece, so that a text file of hundreds of
megabytes is never held in memory whole (tokenizer training and encoding both stream).

A `Corpus` is a stretch [start, end) of characters of some text: a string, or UTF-8 .txt
files read in blocks. `pieces()` yields it in pieces of about 64K characters that end at
a newline, where every tokenizer kind splits anyway, so tokenizing piece by piece gives
exactly the ids of tokenizing the whole. `split_tail` cuts views without copying.
"""
from pathlib import Path
from typing import Callable, Iterator

from .text_files import iter_text_file

PIECE = 1 << 16   # characters per piece handed to a tokenizer


def chunks(text: str, size: int | None = None) -> Iterator[str]:
    """Pieces of about `size` (default PIECE) characters of `text`, each ending at a
    newline (no word or merge is cut in two), except where the text itself ends."""
    size, start = size or PIECE, 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end == -1 else end + 1
        yield text[start:end]
        start = end


def _newline_pieces(blocks: Iterator[str]) -> Iterator[str]:
    """Re-cut arbitrary blocks into `chunks`: each piece ends at a newline."""
    carry = ""
    for block in blocks:
        text = carry + block
        cut = text.rfind("\n") + 1
        yield from chunks(text[:cut])
        carry = text[cut:]
    yield from chunks(carry)


def _ending_lines(blocks: Iterator[str]) -> Iterator[str]:
    """The blocks, then a newline if the last did not end with one (or there were none)."""
    last = ""
    for last in blocks:
        yield last
    if not last.endswith("\n"):
        yield "\n"


class Corpus:
    """Characters [start, end) of a text that `blocks()` yields afresh on every call."""

    def __init__(self, blocks: Callable[[], Iterator[str]], length: int, start: int = 0,
                 end: int | None = None):
        self._blocks, self.total = blocks, length
        self.start, self.end = start, length if end is None else end

    @classmethod
    def from_string(cls, text: str) -> "Corpus":
        return cls(lambda: iter((text,)), len(text))

    @classmethod
    def from_files(cls, paths: list[Path], end_lines: bool = False) -> "Corpus":
        """Files in the given order; with `end_lines`, each file ends with a newline."""
        def blocks():
            for path in paths:
                yield from (_ending_lines if end_lines else iter)(iter_text_file(path))
        return cls(blocks, sum(len(b) for b in blocks()))  # one pass, which also checks the files

    @classmethod
    def concat(cls, corpora: list["Corpus"]) -> "Corpus":
        """The corpora one after another, each ending with a newline so that no line of
        one runs into the next."""
        def blocks():
            for corpus in corpora:
                yield from _ending_lines(corpus.pieces())
        return cls(blocks, sum(len(b) for b in blocks()))

    def __len__(self) -> int:
        return self.end - self.start

    def pieces(self) -> Iterator[str]:
        pos = 0
        for piece in _newline_pieces(self._blocks()):
            lo, hi = max(self.start - pos, 0), min(self.end - pos, len(piece))
            if lo < hi:
                yield piece[lo:hi]
            pos += len(piece)
            if pos >= self.end:
                return

    def text(self) -> str:
        return "".join(self.pieces())

    def has_text(self) -> bool:
        return any(not p.isspace() for p in self.pieces())

    def split_tail(self, fraction: float) -> tuple["Corpus", "Corpus"]:
        """(head, tail): the tail is the last `fraction` of the characters (nanoGPT's split)."""
        cut = self.end - int(len(self) * fraction)
        return (Corpus(self._blocks, self.total, self.start, cut),
                Corpus(self._blocks, self.total, cut, self.end))


def split_tail(text: str, fraction: float) -> tuple[str, str]:
    """Train on the head and validate on the last `fraction` of the characters (nanoGPT's split)."""
    cut = len(text) - int(len(text) * fraction)
    return text[:cut], text[cut:]
