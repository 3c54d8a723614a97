"""A model from the user's own package, registered through $HARNESS_PLUGINS, runs on the smoke suite unchanged.

The module is written to a temporary folder outside the harness, as docs/adding-a-model.md tells a user to do:
only the five abstract methods, ``tiny_config`` and a config dataclass; every other hook keeps its declared
default (FLOPs not applicable, no untrained build), and the cell must still end ``ok`` with its metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

MODULE = '''
"""A user's model: ranks labels by how often they co-occur with the title's words in training."""
import json
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from harness.models import model_registry
from harness.models.contract import FitReport, ModelCard, TopK, XMCModel


@dataclass(frozen=True)
class WordVoteConfig:
    smoothing: float = field(default=1.0, metadata={"help": "added to every label's vote"})


class WordVoteModel(XMCModel):
    name = "word-vote"
    Config = WordVoteConfig
    flops_na_reason = "not applicable: word-label counts"

    def fit(self, train, val, *, ctx):
        self.num_labels = ctx.num_labels
        self.votes = {}
        for text, row in zip(train.texts, train.Y, strict=True):
            for word in set(text.lower().split()):
                self.votes.setdefault(word, Counter()).update(row.indices.tolist())
        return FitReport(train_seconds=0.0, epochs_run=1, best_epoch=1)

    def predict_topk(self, texts, k):
        scores = np.full((len(texts), self.num_labels), self.config.smoothing, dtype=np.float32)
        for i, text in enumerate(texts):
            for word in set(text.lower().split()):
                for label, n in self.votes.get(word, {}).items():
                    scores[i, label] += n
        idx = np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int64)
        return TopK(idx, np.take_along_axis(scores, idx, axis=1))

    def save(self, directory):
        directory.mkdir(parents=True, exist_ok=True)
        data = {"num_labels": self.num_labels, "votes": {w: dict(c) for w, c in self.votes.items()}}
        (directory / "votes.json").write_text(json.dumps(data))

    @classmethod
    def load(cls, directory):
        data = json.loads((directory / "votes.json").read_text())
        model = cls()
        model.num_labels = data["num_labels"]
        model.votes = {w: Counter({int(k): v for k, v in c.items()}) for w, c in data["votes"].items()}
        return model

    def card(self):
        return ModelCard(name=self.name, params={"total": sum(len(c) for c in self.votes.values())},
                         config=asdict(self.config))


model_registry.register("word-vote", WordVoteModel)
'''


def test_a_model_from_outside_the_harness_runs_on_the_smoke_suite(tmp_path: Path) -> None:
    package = tmp_path / "user_code"
    package.mkdir()
    (package / "word_vote.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    env = dict(
        os.environ,
        HARNESS_PLUGINS="word_vote",
        PYTHONPATH=os.pathsep.join([str(package), str(REPO_ROOT)]),
        HARNESS_HOME=str(tmp_path / "home"),
    )
    runs = tmp_path / "runs"
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "run", "--suite", "smoke", "--models", "word-vote"]
        + ["--runs-dir", str(runs), "--no-mlflow", "--progress", "off"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (path,) = runs.rglob("result.json")
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["status"] == "ok" and record["model"] == "word-vote"
    assert record["metrics"]["p@1"] > 0.2  # the smoke data is learnable; word votes find its topic words
    assert record["efficiency"]["flops_na_reason"] == "not applicable: word-label counts"
    assert record["config"] == {"smoothing": 1.0}
