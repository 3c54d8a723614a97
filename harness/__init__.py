"""xmc-harness: benchmarking and reproducibility harness for short-text extreme multi-label classification.

Usage::

    harness ls datasets
    harness data info wordnet-nouns
    harness evaluate --pred pred.txt --truth tst_X_Y.txt --train-labels trn_X_Y.txt --json
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Bumped whenever a metric definition or its evaluation protocol changes; results with different
#: metric versions are never averaged together.
METRICS_VERSION = "1"

#: Version of the on-disk result record schema.
RESULT_SCHEMA_VERSION = "1"
