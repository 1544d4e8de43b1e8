"""Each setting declared once: a dataclass field made by `setting()` carries its default,
help text and allowed values, and both the command-line flags (`add_flags`) and the
validation (`check`) are generated from it.

    lr: float = setting(3e-3, "peak learning rate", low=0, low_open=True, high=1000)

becomes `--lr` (type float, help text with its default) and the check
"lr must be > 0 and <= 1000, got -1" whenever a config is validated.
"""
import argparse
import copy
from dataclasses import MISSING, field, fields, is_dataclass

from .errors import ConfigError, check_range


def setting(default, help: str, *, low=None, high=None, low_open=False, high_open=False,
            choices=None, flag=None, nargs=None, metavar=None, type=None, cli=True, hint="",
            resume=None):
    """A dataclass field with what its flag and its check need.

    `flag` names a flag other than --field-name; for a bool it is the switch that flips
    the default (`--keep-start` for keep_end=True). `cli=False` keeps it off the command
    line (a field derived from the data, or one only the Python API sets). `hint` ends
    the message of an out-of-range value. `resume="fixed"`: a resumed run must keep it.
    """
    meta = dict(help=help, low=low, high=high, low_open=low_open, high_open=high_open,
                choices=choices, flag=flag, nargs=nargs, metavar=metavar, type=type, cli=cli,
                hint=hint, resume=resume)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


def flag_name(f) -> str:
    """The field's flag without dashes, as messages name it: "batch-size"."""
    return (f.metadata.get("flag") or f.name.replace("_", "-")).lstrip("-")


def check(obj):
    """Raise ConfigError unless every declared field of dataclass `obj` (and of the
    dataclasses it holds) has an allowed value; returns `obj`."""
    for f in fields(obj):
        value, meta = getattr(obj, f.name), f.metadata
        if is_dataclass(value):
            check(value)
            continue
        if "help" not in meta or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            _check_value(f, item, meta)
    return obj


def _check_value(f, value, meta):
    name = flag_name(f)
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, meta['choices']))}, got {value!r}")
    wanted = meta["type"] or type(f.default) if f.default is not MISSING else meta["type"]
    if wanted is bool and not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    if wanted in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if wanted is int and not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if meta["low"] is not None or meta["high"] is not None:
        check_range(name, value, meta["low"], meta["high"], meta["low_open"], meta["high_open"],
                    meta["hint"])


def _default(f):
    return f.default_factory() if f.default is MISSING else f.default


def add_flags(parser, cls, title: str, shown: dict | None = None, skip=(), only=None):
    """Add a flag for each command-line field of dataclass `cls` to an argument group.

    Flags default to argparse.SUPPRESS: the namespace then holds only what the user
    typed, so a preset can fill the rest (`resolve`). `shown` gives the defaults the
    help text states, where a command's own differ from the field's; `skip` and `only`
    choose among the fields.
    """
    group = parser.add_argument_group(title)
    for f in fields(cls):
        meta = f.metadata
        if not meta.get("cli", False) or f.name in skip or (only is not None and f.name not in only):
            continue
        default = (shown or {}).get(f.name, _default(f))
        text = meta["help"] + ("" if default is None or isinstance(default, bool)
                               else f" (default: {_show(default)})")
        kwargs = dict(dest=f.name, default=argparse.SUPPRESS, help=text)
        if isinstance(_default(f), bool):
            _add_switch(group, f, kwargs)
            continue
        kwargs.update(type=meta["type"] or _element_type(f), metavar=meta["metavar"])
        if meta["choices"] is not None:
            kwargs["choices"] = meta["choices"]
        if meta["nargs"] == "append":
            kwargs.update(action="append")
        elif meta["nargs"]:
            kwargs.update(nargs=meta["nargs"])
        group.add_argument("--" + flag_name(f), **kwargs)


def _add_switch(group, f, kwargs):
    """--x / --no-x, or one named switch that flips the default."""
    if f.metadata["flag"]:
        group.add_argument(f.metadata["flag"], action="store_const", const=not f.default, **kwargs)
    else:
        group.add_argument("--" + flag_name(f), action=argparse.BooleanOptionalAction, **kwargs)


def _element_type(f):
    default = _default(f)
    if isinstance(default, list):
        return f.metadata["type"] or str
    return type(default) if default is not None else str


def _show(value) -> str:
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    return str(value)


def resolve(cls, values: dict):
    """An instance of dataclass `cls` from the entries of `values` it has fields for."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def from_dict(cls, data: dict, what: str):
    """Build dataclass `cls` from `data`, refusing keys the class does not know."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{what} has unknown keys {unknown}; it was written by a different "
                          "textrnn version, upgrade textrnn or retrain")
    return cls(**data)
