"""A language-model corpus read piece by piece, so that a text file of hundreds of
megabytes is never held in memory whole (tokenizer training and encoding both stream).

A `Corpus` is a stretch [start, end) of characters of some text: a string, or UTF-8 .txt
files read in blocks. `pieces()` yields it in pieces of about 64K characters cut where
every tokenizer kind splits anyway, so tokenizing piece by piece gives exactly the ids of
tokenizing the whole (see `_cut`). `split_tail` cuts views without copying.
"""
import re
from pathlib import Path
from typing import Callable, Iterator

from .text_files import iter_text_file

PIECE = 1 << 16   # characters per piece handed to a tokenizer
LONGEST = 16      # a piece holds at most LONGEST * PIECE characters, newline or not

# Where a piece may end, best first, as (pattern, cut before the match?). Every tokenizer
# kind splits at these, so each piece tokenizes as it would within the whole text: a
# newline or tab is a token of its own, and a space is glued to the word after it as
# "▁word" (BPE merges never cross that split either); char tokens are single characters.
# A space between two word characters also stays clear of the whitespace runs around
# <br /> tags that --strip-html reads as one space. Any character is the last resort, for
# text with no whitespace at all: a word cut in two there may get other ids at that cut.
CUTS = [(re.compile(r"\n"), False),          # after a newline
        (re.compile(r"(?<=\w) (?=\w)"), True),  # before a space between two words
        (re.compile(r"[ \t\r]"), True)]        # before other whitespace


def _cut(text: str, start: int, size: int) -> int:
    """The end of the piece of `text` that begins at `start`: the first cut point of the
    best kind at or after start + size, within the longest a piece may be. `text` must
    hold that longest stretch, unless it is the whole rest of the text."""
    lo, hi = start + size, min(start + LONGEST * size, len(text))
    if lo >= len(text):
        return len(text)
    for pattern, before in CUTS:
        match = pattern.search(text, lo, hi)
        if match:
            return match.start() if before else match.end()
    return len(text) if hi == len(text) else lo  # the end, else the last resort


def chunks(text: str, size: int | None = None) -> Iterator[str]:
    """Pieces of about `size` (default PIECE) characters of `text`, and at most LONGEST
    times that, each cut where no token is cut in two (see `_cut`)."""
    size, start = size or PIECE, 0
    while start < len(text):
        end = _cut(text, start, size)
        yield text[start:end]
        start = end


def _recut(blocks: Iterator[str]) -> Iterator[str]:
    """Re-cut arbitrary blocks into `chunks`, holding back only what the next cut needs:
    a text with no newline (text8's 100M characters) never piles up in memory."""
    carry = ""
    for block in blocks:
        text, start = carry + block, 0
        while len(text) - start > LONGEST * PIECE:  # enough text to place the next cut
            end = _cut(text, start, PIECE)
            yield text[start:end]
            start = end
        carry = text[start:]
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
        for piece in _recut(self._blocks()):
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
