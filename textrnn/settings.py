"""Each setting declared once: a dataclass field made by `setting()` carries its default,
help text and allowed values, and both the command-line flags (`add_flags`) and the
validation (`check`) are generated from it.

    lr: float = setting(3e-3, "peak learning rate", low=0, low_open=True, high=1000)

becomes `--lr` (type float, help text with its default) and the check
"lr must be > 0 and <= 1000, got -1" whenever a config is validated. A bool becomes a
switch pair, `--x` / `--no-x`. A dataclass may list the old spellings of its flags in
`OLD_FLAGS`: they keep working until 0.4.0 and say the new spelling in one line.
"""
import argparse
import copy
import logging
from dataclasses import MISSING, dataclass, field, fields, is_dataclass

from .errors import ConfigError, check_range, setting_name

log = logging.getLogger("textrnn")
OLD_UNTIL = "0.4.0"  # the version that drops the old spellings


def setting(default, help: str, *, low=None, high=None, low_open=False, high_open=False,
            choices=None, flag=None, nargs=None, metavar=None, type=None, cli=True, hint="",
            resume=None, positional=False, required=False, max_items=None):
    """A dataclass field with what its flag and its check need.

    `flag` names a flag other than --field-name (`--length` for max_new_tokens); a bool is
    always the switch pair --x/--no-x. `cli=False` keeps it off the command line (a field
    derived from the data, or one only the Python API sets). `hint` ends the message of an
    out-of-range value. `resume="fixed"`: a resumed run must keep it. `positional`: an
    argument without a flag; `required`: the command needs it; `max_items`: the most
    entries a list may hold. `choices` may be a dict (its keys), read when checked, so an
    entry added later counts.
    """
    meta = dict(help=help, low=low, high=high, low_open=low_open, high_open=high_open,
                choices=choices, flag=flag, nargs=nargs, metavar=metavar, type=type, cli=cli,
                hint=hint, resume=resume, positional=positional, required=required,
                max_items=max_items)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


TAKES_VALUE = object()  # an old flag that takes the value typed after it


@dataclass(frozen=True)
class OldFlag:
    """An old spelling of a flag: it sets `fields` (every one to the value given, or to
    `value` for a switch that takes none) and says that `new` is the spelling now."""
    fields: tuple
    new: str
    value: object = TAKES_VALUE


def flag_name(f) -> str:
    """The field's flag without dashes, as messages name it: "batch-size"."""
    return (f.metadata.get("flag") or f.name.replace("_", "-")).lstrip("-")


def named(f) -> str:
    """A field as an error message names it: its name in Python, its flag on the command line."""
    return setting_name(f.name, flag=f.metadata.get("flag"))


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
        if meta["max_items"] is not None and len(value) > meta["max_items"]:
            raise ConfigError(f"{named(f)} takes at most {meta['max_items']} entries, got {len(value)}")
        for item in value if isinstance(value, list) else [value]:
            _check_value(f, item, meta)
    return obj


def _check_value(f, value, meta):
    name = named(f)
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


def default_of(f):
    return f.default_factory() if f.default is MISSING else f.default


def add_flags(parser, cls, title: str, shown: dict | None = None, skip=(), only=None, taken=None):
    """Add a flag for each command-line field of dataclass `cls` to an argument group, and
    its old spellings (`cls.OLD_FLAGS`).

    Flags default to argparse.SUPPRESS: the namespace then holds only what the user
    typed, so a preset can fill the rest (`resolve`). `shown` gives the defaults the
    help text states, where a command's own differ from the field's; `skip` and `only`
    choose among the fields; `taken` (a set) collects the fields added, and fields already
    in it are left out (several dataclasses on one command).
    """
    group = parser.add_argument_group(title)
    for f in fields(cls):
        meta = f.metadata
        if not meta.get("cli", False) or f.name in skip or (only is not None and f.name not in only):
            continue
        if taken is not None:
            if f.name in taken:
                continue
            taken.add(f.name)
        _add_flag(group, f, (shown or {}).get(f.name, default_of(f)))
    by_name = {f.name: f for f in fields(cls)}
    for old, spec in getattr(cls, "OLD_FLAGS", {}).items():
        if (only is None or set(spec.fields) & set(only)) and not set(spec.fields) & set(skip):
            target = by_name[spec.fields[0]]
            kwargs = (dict(nargs=0) if spec.value is not TAKES_VALUE else
                      dict(nargs=target.metadata["nargs"], type=_element_type(target)))
            group.add_argument(old, action=_OldSpelling, spec=spec, help=argparse.SUPPRESS, **kwargs)


def _add_flag(group, f, default):
    meta = f.metadata
    text = meta["help"] + _shown_default(default)
    kwargs = dict(default=argparse.SUPPRESS, help=text)
    if isinstance(default_of(f), bool):
        group.add_argument("--" + flag_name(f), dest=f.name, action=argparse.BooleanOptionalAction,
                           **kwargs)
        return
    kwargs.update(type=meta["type"] or _element_type(f), metavar=meta["metavar"])
    if meta["choices"] is not None:
        kwargs["choices"] = meta["choices"]
    if meta["nargs"] == "append":
        kwargs.update(action="append")
    elif meta["nargs"]:
        kwargs.update(nargs=meta["nargs"])
    if meta["positional"]:
        group.add_argument(f.name, **kwargs)
    else:
        group.add_argument("--" + flag_name(f), dest=f.name, required=meta["required"], **kwargs)


def _shown_default(default) -> str:
    if default is None:
        return ""
    if isinstance(default, bool):
        return f" (default: {'on' if default else 'off'})"
    return f" (default: {_show(default)})"


class _OldSpelling(argparse.Action):
    """An old flag: sets the new fields and says, once, what to type now."""

    def __init__(self, *args, spec: OldFlag, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec = spec

    def __call__(self, parser, namespace, values, option_string=None):
        value = self.spec.value if self.spec.value is not TAKES_VALUE else values
        for name in self.spec.fields:
            setattr(namespace, name, value)
        log.warning("%s is now %s (the old spelling works until textrnn %s)", option_string,
                    self.spec.new, OLD_UNTIL)


def _element_type(f):
    default = default_of(f)
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
