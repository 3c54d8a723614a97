"""Published references beside the measured rows of a report table, and the deltas to them.

Kept apart from the report's aggregation on purpose: a reference is not a measurement, so it never becomes
a report row (which would make it a candidate for bold and for the significance test); the report only
holds one :class:`TableReferences` per table and asks it for values and deltas when rendering.

Usage::

    from harness.published.compare import table_references
    refs = table_references("AmazonTitles-670K", ["inceptionxml", "syncxml"])
    refs.references["inceptionxml"].label        # "InceptionXML (published, XCR ♦)"
    refs.references["inceptionxml"].delta("p@1", 0.4412)   # 1.67 points
    refs.missing["syncxml"]                      # "no published number: ..."
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.published.lookup import canonical_dataset, lookup
from harness.published.table import PublishedRow, PublishedTable, default_table

#: The columns that get a delta: the accuracy metrics every short-text source prints.
DELTA_METRICS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")


@dataclass(frozen=True)
class Reference:
    """The published row shown beside one harness model, and the sentence that cites it."""

    model: str
    row: PublishedRow
    message: str

    @property
    def label(self) -> str:
        """``"Astec (single model; published, ASTEC T11)"``: variant and source always in sight."""
        inner = self.row.display_name[len(self.row.method) :].strip().strip("()")
        return f"{self.row.method} ({inner + '; ' if inner else ''}published, {self.row.short_source})"

    def text(self, key: str) -> str | None:
        """The value as its source prints it (``None`` where not given or not available)."""
        return self.row.values.get(key) if self.row.number(key) is not None else None

    def delta(self, key: str, ours: float | None) -> float | None:
        """Ours minus published, in percentage points; ``ours`` is a fraction, as records store metrics."""
        published = self.row.number(key)
        if ours is None or published is None or key not in DELTA_METRICS:
            return None
        return round(ours * 100 - published, 2)


@dataclass(frozen=True)
class TableReferences:
    """Per harness model of one table: its reference, or why there is none."""

    dataset: str
    references: dict[str, Reference]
    missing: dict[str, str]

    def delta_keys(self, keys: Sequence[str]) -> list[str]:
        """The given metric keys that get a delta column: in DELTA_METRICS and published for some model."""
        return [
            k for k in keys if k in DELTA_METRICS and any(r.row.number(k) is not None for r in self.references.values())
        ]


def table_references(
    dataset: str, models: Iterable[str], table: PublishedTable | None = None
) -> TableReferences | None:
    """References of ``models`` on ``dataset``; ``None`` when the dataset has no published rows at all.

    ``None`` rather than an empty object keeps tables of embedded or synthetic datasets exactly as they
    were: no column, no line, no footnote appears where the literature has nothing to say.
    """
    table = table or default_table()
    try:
        dataset = canonical_dataset(dataset, table)
    except HarnessError:  # an unregistered dataset just has no references
        return None
    if not table.for_dataset(dataset):
        return None
    references: dict[str, Reference] = {}
    missing: dict[str, str] = {}
    for model in dict.fromkeys(models):
        found = lookup(dataset, model, table)
        if found.reference is None:
            missing[model] = found.message
        else:
            references[model] = Reference(model, found.reference, found.message)
    return TableReferences(dataset, references, missing)
