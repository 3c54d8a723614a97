"""Group result records into report tables: one table per (suite, dataset), one row per comparable model group.

Seeds of a model are averaged only when dataset sha256, split hash, metrics version and config agree; any
other group becomes its own row, and a row whose data or metrics differ from the table's reference is
flagged and never bolded as best (MTEB #5228 mixed buggy and fixed results on one leaderboard).

Usage::

    from harness.report.aggregate import build_report
    report = build_report(records, suite="smoke", metrics=["p@1", "p@5"])
    for table in report.tables:
        print(table.dataset, [row.label for row in table.rows])
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError
from harness.registry import did_you_mean
from harness.report.fields import CompatKey, compat_key, config_digest, efficiency_values, hardware_summary
from harness.results import ResultRecord

DEFAULT_METRICS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")


@dataclass(frozen=True)
class Column:
    """One table column: ``kind`` picks the formatting, ``better`` which end is bold."""

    key: str
    label: str
    kind: str  # "accuracy", "flops", "count", "mb", "ms", "seconds"
    better: str  # "max" or "min"


#: The cost block, always shown after the accuracy columns (XC-repository tables put cost beside accuracy).
EFFICIENCY_COLUMNS = (
    Column("flops_per_query", "MACs/query", "flops", "min"),
    Column("params_total", "Params", "count", "min"),
    Column("model_mb", "Size (MB)", "mb", "min"),
    Column("latency_ms_p50_bs1", "Latency p50 (ms)", "ms", "min"),
    Column("train_s", "Train time", "seconds", "min"),
)


@dataclass
class Stat:
    """Mean and sample standard deviation (``None`` for a single seed) of one column over a row's seeds."""

    mean: float
    std: float | None
    n: int


@dataclass
class Row:
    """The seeds of one model that may be averaged together."""

    model: str
    compat: CompatKey
    config: str
    records: list[ResultRecord]
    label: str = ""
    stats: dict[str, Stat] = field(default_factory=dict)
    notes: list[int] = field(default_factory=list)  # footnote numbers
    flagged: bool = False  # data or metrics differ from the table's reference: not comparable

    @property
    def seeds(self) -> list[int]:
        return sorted(int(r["seed"]) for r in self.records)


@dataclass
class Table:
    """One dataset of one suite."""

    suite: str
    dataset: str
    rows: list[Row]
    failed: list[ResultRecord]
    reference: CompatKey | None
    best: dict[str, set[int]] = field(default_factory=dict)  # column key -> indices of bold rows


@dataclass
class Report:
    """Everything a renderer needs; built from disk records only."""

    tables: list[Table]
    columns: list[Column]
    footnotes: list[str]
    warnings: list[str]
    hardware: list[str]
    versions: list[str]
    n_ok: int = 0
    n_failed: int = 0


def build_report(
    records: Iterable[ResultRecord],
    *,
    suite: str | None = None,
    metrics: Sequence[str] | None = None,
    merge_suites: bool = False,
) -> Report:
    """Aggregate records into tables.

    Args:
        records: every record found on disk, ok and failed.
        suite: keep only this suite, or these comma-separated suites (all suites otherwise, one section each).
        metrics: accuracy columns as on-disk keys (``p@1``); ``p_at_1`` spellings are accepted too.
        merge_suites: one table per dataset across the suites, so that models run by different suites (e.g.
            PECOS in its own environment) sit beside each other. Rows stay comparable only when split, metrics
            version and k agree; any other row is flagged, exactly as within one suite.

    Raises:
        HarnessError: no records, an unknown suite, or an unknown metric.
    """
    records = list(records)
    suites = sorted({str(r.get("suite") or "?") for r in records})
    if suite is not None:
        wanted = [s.strip() for s in suite.split(",") if s.strip()]
        for name in wanted:
            if name not in suites:
                raise HarnessError(f"no results for suite {name!r}.{did_you_mean(name, suites)} Found: {suites}")
        records = [r for r in records if str(r.get("suite") or "?") in wanted]
    if not records:
        raise HarnessError("no result records found; run `harness run` first")
    ok = [r for r in records if r["status"] == "ok"]
    columns = [*_accuracy_columns(ok, metrics), *EFFICIENCY_COLUMNS]
    warnings: list[str] = []
    notes: dict[str, int] = {}

    by_table: dict[tuple[str, str], list[ResultRecord]] = defaultdict(list)
    for rec in records:
        by_table[("*" if merge_suites else str(rec.get("suite") or "?"), rec["dataset"]["name"])].append(rec)
    if merge_suites:  # name each merged table by the suites that fill it
        by_table = {
            ("+".join(sorted({str(r.get("suite") or "?") for r in recs})), d): recs for (_, d), recs in by_table.items()
        }
    tables = [_build_table(s, d, recs, columns, notes, warnings) for (s, d), recs in sorted(by_table.items())]
    return Report(
        tables=tables,
        columns=columns,
        footnotes=list(notes),
        warnings=warnings,
        hardware=_distinct(hardware_summary(r.get("env")) for r in ok),
        versions=_distinct(
            f"harness {r.get('harness_version', '?')} (git {str(r.get('git_sha') or 'unknown')[:10]}"
            f"{', dirty' if r.get('git_dirty') else ''}), metrics version {r.get('metrics_version', '?')}"
            for r in ok
        ),
        n_ok=len(ok),
        n_failed=len(records) - len(ok),
    )


def _accuracy_columns(ok: list[ResultRecord], metrics: Sequence[str] | None) -> list[Column]:
    wanted = [m.strip().lower().replace("_at_", "@") for m in (metrics or DEFAULT_METRICS) if m.strip()]
    if metrics:  # explicit choice: every name must exist somewhere, or the user mistyped it
        known = sorted({k for r in ok for k in r.get("metrics", {})})
        for name in wanted:
            if known and name not in known:
                raise HarnessError(f"unknown metric {name!r}.{did_you_mean(name, known)} Known: {', '.join(known)}")
    return [Column(m, m.upper().replace("PSNDCG", "PSnDCG").replace("NDCG", "nDCG"), "accuracy", "max") for m in wanted]


def _build_table(
    suite: str,
    dataset: str,
    recs: list[ResultRecord],
    columns: list[Column],
    notes: dict[str, int],
    warnings: list[str],
) -> Table:
    ok = [r for r in recs if r["status"] == "ok"]
    failed = sorted((r for r in recs if r["status"] != "ok"), key=lambda r: (r["model"], int(r["seed"])))
    groups: dict[tuple[str, CompatKey, str], list[ResultRecord]] = defaultdict(list)
    for rec in ok:
        groups[(rec["model"], compat_key(rec), config_digest(rec))].append(rec)
    reference = _reference(ok)
    configs_per_model = Counter(model for model, _ in {(m, c) for m, _, c in groups})
    rows = []
    for (model, compat, config), members in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] != reference)):
        members = _one_per_seed(members, f"{suite}/{dataset}/{model}", warnings)
        row = Row(model=model, compat=compat, config=config, records=members)
        row.label = model if configs_per_model[model] == 1 else f"{model} (config {config})"
        # P@1 is always aggregated: the plot needs it even when --metrics leaves it out of the table.
        keys = dict.fromkeys([*(c.key for c in columns), "p@1"])
        row.stats = {k: s for k in keys if (s := _stat(members, k)) is not None}
        for deviation in _distinct(d for r in members for d in r.get("deviations") or []):
            row.notes.append(notes.setdefault(deviation, len(notes) + 1))
        if reference is not None and compat != reference:
            row.flagged = True
            text = "⚠ not comparable with the unflagged rows and not averaged with them: " + _difference(
                compat, reference
            )
            row.notes.append(notes.setdefault(text, len(notes) + 1))
            warnings.append(f"{suite}/{dataset}: {row.label} {_difference(compat, reference)}; shown as its own row")
        rows.append(row)
    table = Table(suite=suite, dataset=dataset, rows=rows, failed=failed, reference=reference)
    table.best = _best(rows, columns)
    return table


def _reference(ok: list[ResultRecord]) -> CompatKey | None:
    """The compat key most records share (ties: the newest), against which other rows are flagged."""
    if not ok:
        return None
    counts = Counter(compat_key(r) for r in ok)
    newest = {
        compat_key(r): str(r.get("finished_at") or "") for r in sorted(ok, key=lambda r: r.get("finished_at") or "")
    }
    return max(counts, key=lambda k: (counts[k], newest[k]))


def _one_per_seed(members: list[ResultRecord], where: str, warnings: list[str]) -> list[ResultRecord]:
    """Keep the newest record of each seed: two records of one seed would weigh that seed twice."""
    latest: dict[int, ResultRecord] = {}
    for rec in sorted(members, key=lambda r: str(r.get("finished_at") or "")):
        seed = int(rec["seed"])
        if seed in latest:
            warnings.append(f"{where}: seed {seed} has more than one result; using the newest")
        latest[seed] = rec
    return [latest[s] for s in sorted(latest)]


def _value(rec: Mapping[str, Any], key: str) -> float | None:
    if key == "model_mb":
        size = efficiency_values(rec)["model_bytes"]
        return None if size is None else size / 1e6
    eff = efficiency_values(rec)
    if key in eff:
        return eff[key]
    value = (rec.get("metrics") or {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _stat(members: list[ResultRecord], key: str) -> Stat | None:
    values = [v for r in members if (v := _value(r, key)) is not None]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else None
    return Stat(mean=statistics.fmean(values), std=std, n=len(values))


def _best(rows: list[Row], columns: list[Column]) -> dict[str, set[int]]:
    """Bold the best comparable row per column; ties at display precision all count as best."""
    best: dict[str, set[int]] = {}
    for col in columns:
        candidates = {
            i: _rank_value(row.stats[col.key].mean, col)
            for i, row in enumerate(rows)
            if not row.flagged and col.key in row.stats
        }
        if len(candidates) < 2:  # one row is not a comparison
            continue
        target = max(candidates.values()) if col.better == "max" else min(candidates.values())
        best[col.key] = {i for i, v in candidates.items() if v == target}
    return best


def _rank_value(mean: float, col: Column) -> float:
    # Accuracy is shown as a percentage with two decimals: rows equal on screen are equally best.
    return round(mean * 100, 2) if col.kind == "accuracy" else mean


def _difference(compat: CompatKey, reference: CompatKey) -> str:
    names = ("dataset sha256", "split hash", "metrics version")
    parts = [f"{n} {a[:12]} (others {b[:12]})" for n, a, b in zip(names, compat, reference, strict=True) if a != b]
    return "; ".join(parts)


def _distinct(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
