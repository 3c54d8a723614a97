"""Type checks of config overrides against a model's dataclass ``Config``, before any cell runs.

Usage::

    from harness.models.config_types import check_types
    check_types(InceptionXMLConfig, {"epochs": "45"}, "inceptionxml")
    # HarnessError: inceptionxml: epochs must be int, got '45' (str)

A suite's YAML gives ``epochs: "45"`` or ``lr: 5e-3`` (YAML 1.1 reads the latter as a *string*) without
complaint, and a dataclass accepts any value; the mistake would show up minutes later inside a cell, or never
(a string compared with a number). The checks follow each field's annotation: ``int`` (not ``bool``),
``float`` (an int is accepted), ``str``, ``bool``, ``X | None``, ``tuple[X, ...]`` (a YAML list), ``Literal``.
Annotations outside these are not checked.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from harness.errors import HarnessError


def check_types(config_cls: type, values: dict[str, Any], where: str) -> None:
    """Raise one :class:`HarnessError` naming the first field whose value does not fit its annotation."""
    try:
        hints = typing.get_type_hints(config_cls)
    except (NameError, TypeError):  # an annotation that cannot be resolved: nothing to check against
        return
    fields = {f.name for f in dataclasses.fields(config_cls)}
    for key, value in values.items():
        if key not in fields or key not in hints:
            continue
        problem = _mismatch(hints[key], value)
        if problem:
            raise HarnessError(f"{where}: {key} must be {problem}, got {value!r} ({type(value).__name__})")


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
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if inner is not None:
            for item in value:
                if _mismatch(inner, item):
                    return f"a list of {_name(inner)}"
        return None
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    return None


def _name(hint: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(hint, str(hint))
