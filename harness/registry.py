"""A small name → object registry with lazy ``"module:attr"`` targets and did-you-mean errors.

Models, datasets and suites are looked up by name everywhere in the harness through one of these, so
that ``harness ls models`` never imports torch and a typo gets a suggestion instead of a KeyError.

Usage::

    model_registry: Registry[type] = Registry("model")
    model_registry.register_lazy("inceptionxml", "inceptionxml.model:InceptionXMLModel")
    cls = model_registry.get("inceptionxml")     # imports inceptionxml.model on first use
    model_registry.get("inceptionxm")            # UnknownNameError: ... Did you mean 'inceptionxml'?
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from harness.errors import HarnessError

T = TypeVar("T")


class UnknownNameError(HarnessError, KeyError):
    """Raised for a name that is not registered; the message lists the closest known names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])


def did_you_mean(name: str, known: list[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest known names, or ``""`` when none is close."""
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"


@dataclass
class _Entry(Generic[T]):
    target: str | None = None  # "module:attr" for lazy entries
    obj: T | None = None
    loaded: bool = False


class Registry(Generic[T]):
    """Maps canonical names (and lower-case aliases) to objects, importing lazy targets on first use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, _Entry[T]] = {}
        self._aliases: dict[str, str] = {}

    # Registration -----------------------------------------------------------------------------
    def register(self, name: str, obj: T, aliases: tuple[str, ...] = ()) -> T:
        """Register an already-imported object under ``name``; duplicate names are an error."""
        self._add(name, _Entry(obj=obj, loaded=True), aliases)
        return obj

    def register_lazy(self, name: str, target: str, aliases: tuple[str, ...] = ()) -> None:
        """Register ``"package.module:attr"``; nothing is imported until :meth:`get` is called."""
        if ":" not in target:
            raise ValueError(f"lazy target must look like 'module:attr', got {target!r}")
        self._add(name, _Entry(target=target), aliases)

    def decorator(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""

        def wrap(obj: T) -> T:
            # A lazy placeholder for this name is filled in when its module is imported.
            entry = self._entries.get(name)
            if entry is not None and entry.target is not None and not entry.loaded:
                entry.obj, entry.loaded = obj, True
                return obj
            return self.register(name, obj, aliases)

        return wrap

    def _add(self, name: str, entry: _Entry[T], aliases: tuple[str, ...]) -> None:
        for key in (name, *aliases):
            if key in self._entries or key.lower() in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is already registered")
        self._entries[name] = entry
        for key in (name, *aliases):
            self._aliases[key.lower()] = name

    # Lookup -----------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """Return the canonical name for ``name`` or an alias of it (case-insensitive)."""
        try:
            return self._aliases[name.lower()]
        except KeyError:
            known = sorted(self._entries)
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{did_you_mean(name, known + list(self._aliases))}"
                f" Known {self.kind}s: {', '.join(known)}"
            ) from None

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing it if it was registered lazily."""
        key = self.canonical(name)
        entry = self._entries[key]
        if not entry.loaded:
            assert entry.target is not None
            module_name, attr = entry.target.split(":", 1)
            module = importlib.import_module(module_name)
            if not entry.loaded:  # importing may have filled it in through the decorator
                entry.obj, entry.loaded = getattr(module, attr), True
        return entry.obj  # type: ignore[return-value]

    def names(self) -> list[str]:
        """Canonical names in registration order."""
        return list(self._entries)

    def target(self, name: str) -> str | None:
        """The lazy ``module:attr`` target of ``name`` (``None`` for eagerly registered objects)."""
        return self._entries[self.canonical(name)].target

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
