"""Fixtures for the model tests."""

from __future__ import annotations

import pytest
import torch

from harness.data.dataset import SplitData
from tests.models.synthetic import make_synthetic


@pytest.fixture(scope="session")
def synthetic() -> tuple[SplitData, SplitData, SplitData]:
    """The tiny (train, val, test) dataset, built once per session."""
    return make_synthetic()


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Run the model tests on one thread.

    On 2 shared cores, torch's spinning thread pool fighting other processes made tiny fits 10-50x slower.
    Package scope, so that module-scoped fits and per-test fits use the same thread count: CPU results
    are bit-identical only for equal thread counts (the reduction order depends on it).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
