"""Component configuration: plain dataclasses, validated and coerced in one place.

Every component declares a ``Config`` dataclass. The same fields drive the Python API
(keyword arguments), the CLI (``-s key=value`` strings), ``stylecap info`` and the JSON that
is saved beside weights, so a field is declared once and used everywhere.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Field:
    """What ``stylecap info`` shows of one config field."""

    name: str
    type: str
    default: Any
    help: str


def field(default: Any = dataclasses.MISSING, *, help: str = "", writes: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with a help text; lists and dicts get a safe default factory.

    ``writes=True`` marks an option that makes the component write files (a snapshot folder, say):
    ``Pipeline.load`` never takes such an option from a file, it keeps the default.
    """
    if isinstance(default, (list, dict, set)):
        value = default
        kwargs["default_factory"] = lambda: type(value)(value)
        default = dataclasses.MISSING
    return dataclasses.field(default=default, metadata={"help": help, "writes": writes}, **kwargs)


WRITING_PREFIXES = ("snapshot",)
"""Options named like this write files whether or not they are marked ``writes=True``."""


def writes_files(f: dataclasses.Field) -> bool:
    """Whether the config field ``f`` makes its component write files (see :func:`field`)."""
    return bool(f.metadata.get("writes")) or f.name.startswith(WRITING_PREFIXES)


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def fields(config_cls: type) -> list[Field]:
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append(Field(f.name, _type_name(hints[f.name]), default, f.metadata.get("help", "")))
    return out


def build(config_cls: type, values: dict[str, Any], *, owner: str = "") -> Any:
    """Make a ``config_cls`` from ``values``, coercing strings (from the CLI) to field types.

    Raises :class:`ConfigError` naming the owner, the field and the accepted values.
    """
    hints = typing.get_type_hints(config_cls)
    known = {f.name for f in dataclasses.fields(config_cls)}
    where = f"{owner}: " if owner else ""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}options must be KEY=VALUE pairs (a mapping), not {type(values).__name__}")
    kwargs = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}option name {key!r} is not a string", "name options by their field names")
        name = key.replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else ""
            accepted = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"{where}unknown option {key!r}",
                f"{hint} accepted options: {accepted}".strip(),
            )
        kwargs[name] = _coerce(value, hints[name], f"{where}option {name!r}")
    try:
        config = config_cls(**kwargs)
    except ConfigError as e:
        problem = e.problem if e.problem.startswith(where) else f"{where}{e.problem}"
        raise ConfigError(problem, e.fix) from None
    except TypeError as e:  # a required field was not given
        raise ConfigError(f"{where}{e}", "give every required option") from None
    except ValueError as e:  # a __post_init__ that parses a value
        raise ConfigError(f"{where}{e}", "change that option") from None
    validate = getattr(config, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError:
            raise
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{where}{e}", "change that option") from None
    return config


def to_dict(config: Any) -> dict[str, Any]:
    """The config as JSON-safe values (paths as strings, tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """``["steps=300", "optimizer=adam"]`` -> ``{"steps": "300", "optimizer": "adam"}``."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {item!r} is not KEY=VALUE", "write it as KEY=VALUE, e.g. steps=300")
        out[key.strip()] = value.strip()
    return out


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(value: Any, tp: Any, what: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, what)
            except ConfigError as e:
                errors.append(e)
        raise errors[-1]
    if origin is typing.Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and value == str(choice)):
                return choice
        raise ConfigError(f"{what} is {value!r}", f"choose one of {', '.join(map(repr, args))}")
    if origin is dict or tp is dict:
        if isinstance(value, str):  # "filters=32,norm=instance": the component's own config coerces the values
            return parse_assignments([item for item in value.split(",") if item.strip()])
        if not isinstance(value, dict):
            raise ConfigError(f"{what} is {value!r}", "give KEY=VALUE pairs separated by commas")
        return dict(value)
    if origin in (list, tuple):
        if not isinstance(value, (str, list, tuple)):
            raise ConfigError(f"{what} is {value!r}", "give a list (comma-separated on the command line)")
        items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
        elem = args[0] if args else str
        coerced = [_coerce(v.strip() if isinstance(v, str) else v, elem, what) for v in items]
        return coerced if origin is list else tuple(coerced)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(f"{what} is {value!r}", "use true or false")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{what} is {value!r}", f"give a number ({tp.__name__})")
        if isinstance(value, str):
            value = value.strip()
        try:
            number = tp(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{what} is {value!r}", f"give a number ({tp.__name__})") from None
        if tp is float and not math.isfinite(number):
            raise ConfigError(f"{what} is {value!r}", "give a finite number (not nan or inf)")
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{what} is {value!r}", "give a whole number")
        if tp is int and not -(2**63) <= number < 2**63:
            raise ConfigError(f"{what} is {value!r}, out of range", "give a number between -2**63 and 2**63-1")
        return number
    if tp is Path:
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise ConfigError(f"{what} is {value!r}", "give a path")
        return Path(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{what} is {value!r}", "give a string")
        return value
    return value
