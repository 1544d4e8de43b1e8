"""Typed exceptions. Each message says what is wrong and what to do, in one line.

The CLI and the recipes catch `TextRNNError` and print its message alone, so a user
never sees a traceback for bad input; library callers can catch the precise type.

A message names a setting with `setting_name("batch_size", 32)`, not with a flag: the
library says what is wrong in the words of its own API (`batch_size=32`), and the command
line, which knows its flags, says the same with the flag to type (`--batch-size 32`,
`TextRNNError.for_command_line`).
"""
import logging
import re

_MARK, _FLAG = "\x1f", "\x1e"  # a setting in a message: MARK name [= value] [FLAG flag] MARK
_NAMED = re.compile(f"{_MARK}([^{_MARK}{_FLAG}=]+)(?:=([^{_MARK}{_FLAG}]*))?(?:{_FLAG}([^{_MARK}]*))?{_MARK}")


def setting_name(name: str, value=None, flag: str | None = None) -> str:
    """A setting named in an error message: rendered as `name=value` for Python callers and
    as `--name value` on the command line. `flag`: a flag spelled otherwise than the name
    (`--length` for max_new_tokens)."""
    shown = "" if value is None else f"={value}"
    return f"{_MARK}{name}{shown}{_FLAG + flag if flag else ''}{_MARK}"


def render(message: str, command_line: bool = False) -> str:
    """`message` with its named settings written for Python or for the command line."""
    def one(m):
        name, value, flag = m.group(1), m.group(2), m.group(3)
        if command_line:
            flag = flag or "--" + name.replace("_", "-")
            if value in ("True", "False"):  # a switch: --x or --no-x
                return flag if value == "True" else "--no-" + flag[2:]
            return flag + ("" if value is None else f" {value}")
        if value is None:
            return name
        return f"{name}={value if _is_number(value) or value in ('True', 'False') else repr(value)}"
    return _NAMED.sub(one, message)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class NamedSettings(logging.Filter):
    """Log lines name settings as errors do: for Python callers by default, with flags once
    a command line says so (`for_command_line()`, set by the CLI and the recipes)."""
    command_line = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _MARK in message:
            record.msg, record.args = render(message, self.command_line), ()
        return True

    @classmethod
    def for_command_line(cls):
        cls.command_line = True


logging.getLogger("textrnn").addFilter(NamedSettings())


class TextRNNError(Exception):
    """Base class for every error textrnn raises on purpose."""

    def __str__(self) -> str:
        return render(super().__str__())

    def for_command_line(self) -> str:
        """The message with the flags a command line user types."""
        return render(super().__str__(), command_line=True)


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
