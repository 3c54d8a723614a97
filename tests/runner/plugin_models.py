"""Test-only models, registered through ``HARNESS_PLUGINS=tests.runner.plugin_models`` in cell processes.

Each is a label-popularity model (fits in milliseconds, no torch training) with one scripted behaviour, so the
runner's failure handling can be tested without a slow or flaky real model:

* ``test-ok``: predicts the most frequent training labels; ``sleep_s`` slows its fit (kill tests).
* ``test-raise``: raises RuntimeError in fit.
* ``test-nan``: predicts NaN scores.
* ``test-kill``: the cell process SIGKILLs itself in fit (as the OOM killer would).
* ``test-sleep``: sleeps 60 s in fit (timeout tests).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.models import model_registry
from harness.models.contract import FitContext, FitReport, ModelCard, TopK, XMCModel


@dataclass(frozen=True)
class PopularityConfig:
    behaviour: str = "ok"  # ok | raise | nan | kill | sleep
    sleep_s: float = 0.0


class PopularityModel(XMCModel):
    """Ranks labels by training frequency, the same for every text."""

    name = "test-ok"
    Config = PopularityConfig

    def __init__(self, config: PopularityConfig | None = None, **overrides: object) -> None:
        super().__init__(config, **overrides)
        self.order = np.zeros(0, dtype=np.int64)
        self.freq = np.zeros(0, dtype=np.float32)

    def fit(self, train, val, *, ctx: FitContext) -> FitReport:  # noqa: ANN001
        start = time.perf_counter()
        behaviour = self.config.behaviour
        if behaviour == "raise":
            raise RuntimeError("scripted failure in fit")
        if behaviour == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if behaviour == "sleep" or self.config.sleep_s:
            time.sleep(self.config.sleep_s or 60.0)
        counts = np.bincount(train.Y.indices, minlength=ctx.num_labels).astype(np.float32)
        self.freq = counts / max(1.0, counts.sum())
        self.order = np.argsort(-counts, kind="stable").astype(np.int64)
        return FitReport(train_seconds=time.perf_counter() - start, epochs_run=1, best_epoch=1)

    def predict_topk(self, texts: Sequence[str], k: int) -> TopK:
        kk = min(k, self.order.size)
        indices = np.full((len(texts), k), -1, dtype=np.int64)
        scores = np.full((len(texts), k), -np.inf, dtype=np.float32)
        indices[:, :kk] = self.order[:kk]
        scores[:, :kk] = np.nan if self.config.behaviour == "nan" else self.freq[self.order[:kk]]
        return TopK(indices, scores)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "model.json").write_text(json.dumps({"order": self.order.tolist()}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> PopularityModel:
        model = cls()
        model.order = np.array(json.loads((directory / "model.json").read_text())["order"], dtype=np.int64)
        return model

    def card(self) -> ModelCard:
        return ModelCard(name=self.name, params={"total": int(self.order.size)}, config=asdict(self.config))


def _variant(behaviour: str) -> type[PopularityModel]:
    """A subclass whose config defaults to ``behaviour`` (a distinct registry name per behaviour)."""
    body = {"__annotations__": {"behaviour": str}, "behaviour": behaviour}
    config = dataclass(frozen=True)(type(f"{behaviour.title()}Config", (PopularityConfig,), body))
    return type(f"Popularity{behaviour.title()}", (PopularityModel,), {"name": f"test-{behaviour}", "Config": config})


model_registry.register("test-ok", PopularityModel)
for _behaviour in ("raise", "nan", "kill", "sleep"):
    model_registry.register(f"test-{_behaviour}", _variant(_behaviour))
