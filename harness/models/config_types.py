"""Type and range checks of config overrides against a model's dataclass ``Config``, before any cell runs.

Usage::

    from harness.models.config_types import check_types, check_ranges, POSITIVE
    check_types(InceptionXMLConfig, {"epochs": "45"}, "inceptionxml")
    # HarnessError: inceptionxml: epochs must be an integer, got '45' (str)
    check_types(InceptionXMLConfig, {"lr": 0}, "inceptionxml")
    # HarnessError: inceptionxml: lr must be > 0, got 0 (int)

    lr: float = field(default=5e-3, metadata={"help": "peak learning rate", **POSITIVE})   # in a Config
    def __post_init__(self): check_ranges(self)                                           # the same rule

A suite's YAML gives ``epochs: "45"`` or ``lr: 5e-3`` (YAML 1.1 reads the latter as a *string*) without
complaint, and a dataclass accepts any value; the mistake would show up minutes later inside a cell, or never
(a string compared with a number). The checks follow each field's annotation: ``int`` (not ``bool``, not a
float, even ``2.0``), ``float`` (an int is accepted; NaN and infinities are not), ``str``, ``bool``,
``X | None``, ``tuple[X, ...]`` (a YAML list), ``Literal``. Annotations outside these are not checked.

Ranges are declared in the field's metadata and read here generically, so one declaration serves both the
plan-time check (:func:`check_types`) and the config's own ``__post_init__`` (:func:`check_ranges`):

* ``"min"`` / ``"max"``: bounds, inclusive unless ``"min_exclusive"`` / ``"max_exclusive"`` is true;
* a ``tuple[X, ...]`` field's bounds apply to every item; ``None`` (where allowed) is never out of range.

Changing a field's metadata changes neither its value nor the resolved config, so cell keys stay the same.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from harness.errors import HarnessError

#: Metadata fragments for the common ranges: ``metadata={"help": "...", **POSITIVE}``.
POSITIVE: dict[str, Any] = {"min": 0, "min_exclusive": True}
NON_NEGATIVE: dict[str, Any] = {"min": 0}
AT_LEAST_ONE: dict[str, Any] = {"min": 1}
#: A dropout probability: 0 (off) up to, not including, 1 (everything dropped).
DROPOUT: dict[str, Any] = {"min": 0, "max": 1, "max_exclusive": True}
#: A fraction strictly between 0 and 1.
OPEN_FRACTION: dict[str, Any] = {"min": 0, "min_exclusive": True, "max": 1, "max_exclusive": True}

_RANGE_KEYS = ("min", "max")


def check_types(config_cls: type, values: dict[str, Any], where: str) -> None:
    """Raise one :class:`HarnessError` naming the first field whose value does not fit its annotation or range."""
    try:
        hints = typing.get_type_hints(config_cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved: nothing to check against
        hints = {}
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    for key, value in values.items():
        if key not in fields:
            continue
        problem = _mismatch(hints[key], value) if key in hints else None
        if problem is None:
            problem = _out_of_range(fields[key], value, hints.get(key))
        if problem:
            raise HarnessError(f"{where}: {key} must be {problem}, got {value!r} ({type(value).__name__})")


def check_ranges(config: Any) -> None:
    """The rules of :func:`check_types` for a config instance's numbers (for its ``__post_init__``); one HarnessError.

    Every field whose value is a number or a bool (or a list of them) is checked against its annotation and
    declared range, so a directly built config refuses what a suite is refused: ``epochs=True``, ``epochs=2.5``,
    ``lr=nan``, ``lr=0``. Other values (strings, paths) are left to the config's own checks.
    """
    try:
        hints = typing.get_type_hints(type(config))
    except (NameError, TypeError):
        hints = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(isinstance(v, (bool, int, float)) for v in items):
            continue
        problem = _mismatch(hints[f.name], value) if f.name in hints else None
        if problem is None:
            problem = _out_of_range(f, value, hints.get(f.name))
        if problem:
            raise HarnessError(f"{f.name} must be {problem}, got {value!r}")


def range_text(metadata: typing.Mapping[str, Any]) -> str | None:
    """``"> 0"``, ``">= 1"``, ``"in [0, 1)"``, ``"<= 6"``: the declared range in words, or ``None``."""
    lo, hi = metadata.get("min"), metadata.get("max")
    lo_open, hi_open = bool(metadata.get("min_exclusive")), bool(metadata.get("max_exclusive"))
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return None


def _in_range(metadata: typing.Mapping[str, Any], value: float) -> bool:
    lo, hi = metadata.get("min"), metadata.get("max")
    if not math.isfinite(value):
        return False
    if lo is not None and not (value > lo if metadata.get("min_exclusive") else value >= lo):
        return False
    return hi is None or bool(value < hi if metadata.get("max_exclusive") else value <= hi)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _out_of_range(f: dataclasses.Field, value: Any, hint: Any) -> str | None:
    """The declared range in words when ``value`` (or an item of it) lies outside it, else ``None``."""
    text = range_text(f.metadata)
    if text is None or value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else [value]
    bad = [v for v in items if _is_number(v) and not _in_range(f.metadata, float(v))]
    if not bad:
        return None
    if isinstance(value, (list, tuple)):
        return f"a list of numbers {text}"
    nullable = hint is not None and type(None) in typing.get_args(hint)
    return text + (" or null" if nullable else "")


def _mismatch(hint: Any, value: Any) -> str | None:
    """``None`` when ``value`` fits ``hint``, else the expected type in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        problems = [_mismatch(arg, value) for arg in args]
        if any(p is None for p in problems):
            return None
        return " or ".join(p or "" for p in problems)
    if hint is type(None):
        return None if value is None else "null"
    if origin is typing.Literal:
        return None if value in args else f"one of {', '.join(map(repr, args))}"
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return "a list"
        if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]: any length
            return next((f"a list of {_name(args[0])}" for item in value if _mismatch(args[0], item)), None)
        if args and (len(value) != len(args) or any(_mismatch(a, v) for a, v in zip(args, value, strict=False))):
            kinds = dict.fromkeys(_name(a) for a in args)  # tuple[int, int]: "a list of 2 integers"
            return f"a list of {len(args)} {' and '.join(kinds)}"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        # A bool is an int to Python and 2.0 compares equal to 2, but neither is a count of anything.
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        if not _is_number(value):
            return "a number"
        return None if math.isfinite(value) else "a finite number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    return None


def _name(hint: Any) -> str:
    return {int: "integers", float: "finite numbers", str: "strings", bool: "booleans"}.get(hint, str(hint))
