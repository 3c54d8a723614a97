"""Fixtures for the profiler tests: a tiny untrained instance of any registered model."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.models.contract import XMCModel

#: Small sizes: every registered model must build and trace in well under a second at these.
TINY_LABELS = 37
TINY_VOCAB = 53


@pytest.fixture
def tiny_model() -> Callable[[str], XMCModel]:
    """Build a registered model untrained at tiny sizes with its ``tiny_config()`` overrides."""
    from harness.models import model_registry
    from harness.profiling.untrained import build_untrained, tiny_overrides

    def build(name: str) -> XMCModel:
        overrides = tiny_overrides(model_registry.get(name))
        return build_untrained(name, num_labels=TINY_LABELS, vocab_size=TINY_VOCAB, **overrides)

    return build
