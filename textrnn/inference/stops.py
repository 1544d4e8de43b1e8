"""Stop strings: a sample ends when its text holds one, and is cut before it.

A sample's text grows a piece (a token's text) at a time, and a stop string may straddle
pieces. `StopMatcher` finds one incrementally: it keeps the beginnings of stop strings that
the text ends with, so each new character costs as many comparisons as there are such open
beginnings (at most the stop strings' total length), whatever the length of the text so
far. Streaming holds back exactly those open characters, which may still become a stop.
"""
from itertools import chain


class StopMatcher:
    def __init__(self, stops):
        self.stops = list(stops)
        self.open: list[tuple[int, int]] = []  # (stop, characters of it the text ends with)
        self.starts = [(i, 0) for i in range(len(self.stops))]  # each may begin at any character

    def feed(self, piece: str) -> bool:
        """Take the text's next characters; True once a stop string is complete."""
        for c in piece:
            advanced = []
            for i, k in chain(self.open, self.starts):
                if self.stops[i][k] == c:
                    if k + 1 == len(self.stops[i]):
                        return True
                    advanced.append((i, k + 1))
            self.open = advanced
        return False

    def pending(self) -> int:
        """Characters at the end of the text that begin a stop string (and may yet become one)."""
        return max((k for _, k in self.open), default=0)


class Growing:
    """One sample's text as it grows, piece by piece, with its stop strings' matcher."""

    def __init__(self, stops):
        self.pieces: list[str] = []
        self.length = 0
        self.matcher = StopMatcher(stops) if stops else None
        self.stopped = False  # a stop string is complete

    def add(self, piece: str) -> bool:
        """Append a piece; True once the text holds a stop string."""
        self.pieces.append(piece)
        self.length += len(piece)
        if self.matcher is not None and not self.stopped:
            self.stopped = self.matcher.feed(piece)
        return self.stopped

    def text(self) -> str:
        return "".join(self.pieces)

    def since(self, start: int) -> str:
        """The text from character `start` on, read from its last pieces only."""
        out, have = [], self.length
        for piece in reversed(self.pieces):
            if have <= start:
                break
            out.append(piece)
            have -= len(piece)
        return "".join(reversed(out))[start - have:]


def track_pieces(ids, pieces: list[str], samples: list[Growing]) -> bool:
    """Append each live sample's new piece; True when every sample holds a stop string."""
    for sample, i in zip(samples, ids):
        if not sample.stopped:
            sample.add(pieces[i])
    return all(s.stopped for s in samples)


def cut_at_stop(text: str, stops) -> str:
    cuts = [text.find(s) for s in stops if s in text]
    return text[: min(cuts)] if cuts else text


class TextStream:
    """Sends a sample to `on_token` as it grows, and only text the returned sample will
    hold: nothing from a stop string on, and a tail that may still grow into a stop string
    waits for the pieces that settle it (or for the end)."""

    def __init__(self, on_token, stops):
        self.on_token, self.stops = on_token, stops
        self.sent, self.closed = 0, False  # characters sent; True once the sample ended

    def update(self, sample: Growing, ended: bool):
        """`sample`: the text so far; `ended`: it holds a stop string or has all its tokens."""
        if self.closed:
            return
        if ended:
            end = len(cut_at_stop(sample.text(), self.stops))
        else:
            end = sample.length - (sample.matcher.pending() if sample.matcher else 0)
        if end > self.sent:
            self.on_token(sample.since(self.sent)[: end - self.sent])
            self.sent = end
        self.closed = ended
