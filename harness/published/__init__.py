"""Published numbers for the seven short-text benchmarks, shipped with the harness and cited row by row.

Why in the package: a report that puts our numbers beside the literature's must say exactly which paper,
table and variant it compares with, and that cannot depend on a research note outside the repository. The
table (``published.csv``, sources in ``sources.csv``) was transcribed from ``../shared/docs/published-results.md``
with each source's rounding kept; docs/published.md explains the columns, the variant rule and how to add
a row.

Usage::

    from harness.published import default_table, lookup
    lookup("amazontitles-670k", "inceptionxml").reference.number("p@1")   # 42.45
    lookup("AmazonTitles-670K", "syncxml").message                         # "no published number: ..."
    default_table().for_dataset("AmazonTitles-3M")                         # every row, file order
"""

from __future__ import annotations

from harness.published.lookup import MODEL_ALIASES, MODELS, Lookup, ModelMapping, canonical_dataset, lookup, mapping
from harness.published.table import (
    DATA_FILE,
    FLAGS,
    MARKS,
    SOURCES_FILE,
    VARIANTS,
    PublishedRow,
    PublishedTable,
    Source,
    default_table,
    load_table,
)

__all__ = [
    "DATA_FILE",
    "FLAGS",
    "MARKS",
    "MODELS",
    "MODEL_ALIASES",
    "SOURCES_FILE",
    "VARIANTS",
    "Lookup",
    "ModelMapping",
    "PublishedRow",
    "PublishedTable",
    "Source",
    "canonical_dataset",
    "default_table",
    "load_table",
    "lookup",
    "mapping",
]
