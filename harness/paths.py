"""Where the harness keeps things by default, and the environment variables that move them, read in one place.

Usage::

    from harness.paths import harness_home, default_runs_dir
    harness_home()        # $HARNESS_HOME, else ~/.cache/xmc-harness: caches, split manifests, synthetic data
    default_runs_dir()    # $HARNESS_RUNS, else results/runs: where run writes cells and report/sync read them

``$HARNESS_DATA`` (datasets), ``$HARNESS_GLOVE`` (word vectors) and ``$HARNESS_PLUGINS`` (outside models) are read
where they are used (harness.data.layout, harness.data.word_vectors, harness.runner.plan), each documented there.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Where ``harness run`` writes cells unless ``--runs-dir`` or ``$HARNESS_RUNS`` say otherwise.
DEFAULT_RUNS_DIR = Path("results/runs")


def harness_home() -> Path:
    """The harness's cache folder: ``$HARNESS_HOME``, default ``~/.cache/xmc-harness``."""
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".cache" / "xmc-harness").expanduser()


def default_runs_dir() -> Path:
    """``$HARNESS_RUNS``, else ``results/runs``: the same default for ``harness run``, ``report`` and ``sync``."""
    return Path(os.environ.get("HARNESS_RUNS") or DEFAULT_RUNS_DIR)
