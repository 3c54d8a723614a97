"""Wording shared by every model's list of deviations from its paper (recorded with each result)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def changed_settings(config: Any, published: Mapping[str, Any], source: str = "paper default") -> list[str]:
    """One line per setting of ``config`` that differs from ``published``: ``lr 0.02 (paper default: 0.005)``.

    Models state their own deviations in words; the settings a user overrides (epochs, lr, batch, top-K) are
    the common case, written the same way for every model so that ``harness report``'s footnotes read alike.
    """
    return [
        f"{key} {getattr(config, key)} ({source}: {value})"
        for key, value in published.items()
        if getattr(config, key) != value
    ]
