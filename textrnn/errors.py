"""Typed exceptions. Each message says what is wrong and what to do, in one line.

The CLI and the recipes catch `TextRNNError` and print its message alone, so a user
never sees a traceback for bad input; library callers can catch the precise type.
"""


class TextRNNError(Exception):
    """Base class for every error textrnn raises on purpose."""


class DataError(TextRNNError, ValueError):
    """A corpus or labelled file is missing, empty, unreadable or malformed."""


class ConfigError(TextRNNError, ValueError):
    """A setting is out of range or settings contradict each other."""


class CheckpointError(TextRNNError, OSError):
    """A run folder is missing files, holds corrupt files, or cannot be written."""


class TrainingDiverged(TextRNNError, ArithmeticError):
    """The loss became NaN or infinite."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name if it has none), for
    errors that quote a library's own words in one line."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


def check_range(name, value, low=None, high=None, low_open=False, high_open=False, hint=""):
    """Raise ConfigError unless low (<|<=) value (<|<=) high; NaN always fails."""
    ok = value == value  # False for NaN
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
        need = " and ".join(p for p in (lo, hi) if p)
        raise ConfigError(f"{name} must be {need}, got {value}{'; ' + hint if hint else ''}")
    return value
