"""Read and validate the shipped table of published numbers (``published.csv``) and its sources (``sources.csv``).

The numbers are kept as the text their source prints (``41.7`` stays ``41.7``, never ``41.70``) because a
reference table that silently re-rounds can no longer be checked against the paper it cites; they become
floats only when a delta is computed. Every problem in either file is one :class:`DataFormatError` naming
the file and line, so a hand edit that breaks the table fails loudly and points at itself.

Usage::

    from harness.published.table import default_table
    table = default_table()
    rows = table.for_dataset("AmazonTitles-670K")
    rows[0].number("p@1"), rows[0].source, rows[0].flags
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.errors import DataFormatError

HERE = Path(__file__).resolve().parent
DATA_FILE = HERE / "published.csv"
SOURCES_FILE = HERE / "sources.csv"

#: CSV column -> the harness metric key it holds (XC-repository spelling in the file, the records' in code).
METRIC_COLUMNS = {
    **{f"p@{k}": f"p@{k}" for k in (1, 3, 5)},
    **{f"n@{k}": f"ndcg@{k}" for k in (1, 3, 5)},
    **{f"psp@{k}": f"psp@{k}" for k in (1, 3, 5)},
    **{f"psn@{k}": f"psndcg@{k}" for k in (1, 3, 5)},
}
COST_COLUMNS = ("model_size_gb", "train_time_hr", "predict_time_ms")
COLUMNS = (
    "dataset",
    "method",
    "variant",
    "label",
    "mark",
    *METRIC_COLUMNS,
    *COST_COLUMNS,
    "source",
    "machine",
    "flags",
    "note",
)
SOURCE_COLUMNS = ("key", "citation", "location", "tables")

#: What a variant means, and how much a comparison with a single harness model should prefer it (lower first).
VARIANTS = {
    "single": (0, "one model, as the source states"),
    "unspecified": (1, "the source names no variant"),
    "classifier-only": (2, "the classifier half of a two-part model (NGAME M2)"),
    "fusion": (2, "a fusion of two models (NGAME-2: encoder M1 + classifier M2)"),
    "ensemble-3": (3, "a 3-model ensemble"),
    "emb-only": (9, "dense-embedding retrieval (kNN over an encoder), not a classifier"),
    "sparse-retrieval": (9, "sparse retrieval (BM25), not a classifier"),
}
FLAGS = {
    "as-reported": "XCR ♦: copied by the page maintainers from the publication, not re-run",
    "uncertain": "the row's variant or dataset is uncertain",
    "image": "read by eye from a PNG of a results table",
    "inferred": "the source does not name the dataset; inferred from matching rows",
    "re-reported": "another paper's re-run or re-print of the method; may differ from the original",
    "emb-only": "embedding-only retrieval result",
    "sparse-retrieval": "sparse retrieval result",
    "not-scalable": "the source reports that the method did not scale (no number)",
}
#: XC-repository machine symbols (legend of the page).
MARKS = {
    "*": "24-core Intel Xeon 2.6 GHz (CPU)",
    "†": "the same CPU with 1x P40",
    "‡": "the same CPU with 1x V100",
    "♦": "results as reported in publication",
}
#: The flags that make a row a weaker reference than an otherwise equal one.
WEAK_FLAGS = frozenset({"image", "inferred", "uncertain", "re-reported"})
_NUMBER = re.compile(r"\d+(\.\d+)?")
#: "3-model ensemble" and similar sizes; only ensemble-3 occurs today, a larger one is allowed.
_ENSEMBLE = re.compile(r"ensemble-(\d+)")


@dataclass(frozen=True)
class PublishedRow:
    """One (dataset, method, variant, source) row; ``values`` hold the printed text of each given figure."""

    dataset: str
    method: str
    variant: str
    label: str
    mark: str
    values: dict[str, str]  # harness metric key or cost column -> text ("-": XCR's own not-available dash)
    source: str
    machine: str
    flags: tuple[str, ...]
    note: str
    line: int

    def number(self, key: str) -> float | None:
        """The figure as a float (metric keys in the records' spelling), ``None`` where not given."""
        text = self.values.get(key, "")
        return float(text) if _NUMBER.fullmatch(text) else None

    @property
    def source_keys(self) -> tuple[str, ...]:
        """The source keys the row cites, in order (``"RENEE T2; ELMO (...)"`` -> ``("RENEE", "ELMO")``)."""
        return tuple(dict.fromkeys(part.split()[0] for part in self.source.split(";") if part.strip()))

    @property
    def short_source(self) -> str:
        """The first citation without its parenthesis, plus the XCR mark: ``"RENEE T1"``, ``"XCR ♦"``."""
        first = self.source.split(";")[0].split("(")[0].strip()
        return f"{first} {self.mark}" if self.mark else first

    @property
    def ensemble_size(self) -> int | None:
        match = _ENSEMBLE.fullmatch(self.variant)
        return int(match.group(1)) if match else None

    @property
    def has_accuracy(self) -> bool:
        return any(self.number(key) is not None for key in METRIC_COLUMNS.values())

    @property
    def display_name(self) -> str:
        """The method with its variant spelled out: ``"Astec (3-model ensemble)"``, ``"Astec (single model)"``."""
        if self.ensemble_size:
            return f"{self.method} ({self.ensemble_size}-model ensemble)"
        words = {"single": "single model", "classifier-only": "classifier only", "fusion": "M1+M2 fusion"}
        return f"{self.method} ({words[self.variant]})" if self.variant in words else self.method


@dataclass(frozen=True)
class Source:
    """A cited source: who, where (repository @ commit : path) and which tables were read."""

    key: str
    citation: str
    location: str
    tables: str


@dataclass(frozen=True)
class PublishedTable:
    """All rows and sources; rows keep the file's order (XCR first within a dataset, then papers)."""

    rows: tuple[PublishedRow, ...]
    sources: dict[str, Source]
    path: Path

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(row.dataset for row in self.rows))

    def for_dataset(self, dataset: str) -> list[PublishedRow]:
        return [row for row in self.rows if row.dataset == dataset]

    def methods(self) -> list[str]:
        return sorted({row.method for row in self.rows}, key=str.lower)


def _records(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Non-comment lines of ``path`` as dicts keyed by ``columns``; the header must equal ``columns``."""
    if not path.is_file():
        raise DataFormatError(path, None, "file not found (the package is installed without its data?)")
    out: list[tuple[int, dict[str, str]]] = []
    header_seen = False
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip() or text.startswith("#"):
            continue
        cells = next(csv.reader([text]))
        if not header_seen:
            if tuple(cells) != columns:
                raise DataFormatError(path, number, f"header must be {','.join(columns)}")
            header_seen = True
            continue
        if len(cells) != len(columns):
            raise DataFormatError(path, number, f"{len(cells)} fields, expected {len(columns)}")
        out.append((number, dict(zip(columns, (c.strip() for c in cells), strict=True))))
    if not header_seen:
        raise DataFormatError(path, None, "no header line")
    return out


def load_sources(path: Path = SOURCES_FILE) -> dict[str, Source]:
    """The source list, keyed; every field is required and keys are unique."""
    sources: dict[str, Source] = {}
    for line, rec in _records(path, SOURCE_COLUMNS):
        for column, value in rec.items():
            if not value:
                raise DataFormatError(path, line, f"empty {column}")
        if rec["key"] in sources:
            raise DataFormatError(path, line, f"duplicate source key {rec['key']!r}")
        sources[rec["key"]] = Source(**rec)
    return sources


def load_table(path: Path = DATA_FILE, sources_path: Path = SOURCES_FILE) -> PublishedTable:
    """Read and validate both files; raises :class:`DataFormatError` at the first problem."""
    from harness.data.catalog import dataset_registry

    sources = load_sources(sources_path)
    rows: list[PublishedRow] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    for line, rec in _records(path, COLUMNS):

        def fail(problem: str, line: int = line) -> DataFormatError:
            return DataFormatError(path, line, problem)

        for column in ("dataset", "method", "variant", "label", "source"):
            if not rec[column]:
                raise fail(f"empty {column}")
        if rec["dataset"] not in dataset_registry or dataset_registry.canonical(rec["dataset"]) != rec["dataset"]:
            raise fail(f"dataset {rec['dataset']!r} is not a canonical name of the dataset registry")
        if rec["variant"] not in VARIANTS and not _ENSEMBLE.fullmatch(rec["variant"]):
            raise fail(f"unknown variant {rec['variant']!r}; known: {', '.join(VARIANTS)}, ensemble-N")
        if rec["mark"] and rec["mark"] not in MARKS:
            raise fail(f"unknown mark {rec['mark']!r}; known: {' '.join(MARKS)}")
        flags = tuple(f.strip() for f in rec["flags"].split(";") if f.strip())
        for flag in flags:
            if flag not in FLAGS:
                raise fail(f"unknown flag {flag!r}; known: {', '.join(FLAGS)}")
        values: dict[str, str] = {}
        for column in (*METRIC_COLUMNS, *COST_COLUMNS):
            text = rec[column]
            if text and text != "-" and not _NUMBER.fullmatch(text):
                raise fail(f"{column} {text!r} is not a number as printed (digits, one optional decimal point)")
            if column in METRIC_COLUMNS and _NUMBER.fullmatch(text) and float(text) > 100:
                raise fail(f"{column} {text} is above 100: metrics are percentages")
            if text:
                values[METRIC_COLUMNS.get(column, column)] = text
        row = PublishedRow(
            dataset=rec["dataset"],
            method=rec["method"],
            variant=rec["variant"],
            label=rec["label"],
            mark=rec["mark"],
            values=values,
            source=rec["source"],
            machine=rec["machine"],
            flags=flags,
            note=rec["note"],
            line=line,
        )
        for key in row.source_keys:
            if key not in sources:
                raise fail(f"source {key!r} is not in {sources_path.name}; known: {', '.join(sources)}")
        if not any(_NUMBER.fullmatch(v) for v in values.values()) and "not-scalable" not in flags:
            raise fail("no figure given; a row without numbers must be flagged not-scalable")
        key = (row.dataset, row.method, row.variant, row.source)
        if key in seen:
            raise fail(f"duplicate (dataset, method, variant, source); first on line {seen[key]}")
        seen[key] = line
        rows.append(row)
    return PublishedTable(rows=tuple(rows), sources=sources, path=path)


@cache
def default_table() -> PublishedTable:
    """The shipped table, read once per process (the report and the CLI both ask for it)."""
    return load_table()
