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
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.registry import did_you_mean
from harness.report.fields import (
    CompatKey,
    compat_key,
    config_digest,
    efficiency_values,
    fit_stop,
    hardware_summary,
)
from harness.report.significance import Comparison, PerQueryLoader, SignificanceSettings, compare_with_best
from harness.results import ResultRecord

if TYPE_CHECKING:
    from harness.published.compare import Reference, TableReferences

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
    significance: dict[str, Comparison] = field(default_factory=dict)  # column key -> test against the best

    @property
    def seeds(self) -> list[int]:
        return sorted(int(r["seed"]) for r in self.records)

    @property
    def not_converged(self) -> list[ResultRecord]:
        """Seeds whose training a budget cut before the validation metric plateaued (``fit.converged`` False).

        Records that do not say (older records, models without the notion) count as neither.
        """
        return [r for r in self.records if fit_stop(r)[1] is False]

    @property
    def converged(self) -> bool | None:
        """False if any seed did not converge, True if every seed did, None when the records do not say."""
        flags = [fit_stop(r)[1] for r in self.records]
        if any(f is False for f in flags):
            return False
        return True if flags and all(f is True for f in flags) else None


@dataclass
class Table:
    """One dataset of one suite."""

    suite: str
    dataset: str
    rows: list[Row]
    failed: list[ResultRecord]
    reference: CompatKey | None
    best: dict[str, set[int]] = field(default_factory=dict)  # column key -> indices of bold rows
    #: Published numbers beside the rows (harness.published); None where the dataset has none, so such a
    #: table renders exactly as without them. Never rows: they take no part in bold or the test.
    published: TableReferences | None = None

    @property
    def rehearsal(self) -> bool:
        """The results come from a synthetic stand-in (``harness data synth``) carrying the dataset's name."""
        records = [r for row in self.rows for r in row.records] + self.failed
        return any((r.get("dataset") or {}).get("rehearsal") for r in records)


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
    #: How rows were tested against the best; None when testing was switched off (``--resamples 0``).
    significance: SignificanceSettings | None = None
    #: Number of (row, column) comparisons made: 0 means no cell had per-query values.
    n_comparisons: int = 0


def build_report(
    records: Iterable[ResultRecord],
    *,
    suite: str | None = None,
    metrics: Sequence[str] | None = None,
    merge_suites: bool = False,
    per_query: PerQueryLoader | None = None,
    significance: SignificanceSettings | None = SignificanceSettings(),  # noqa: B008 - frozen, safe to share
    published: bool = True,
) -> Report:
    """Aggregate records into tables.

    Args:
        records: every record found on disk, ok and failed.
        suite: keep only this suite, or these comma-separated suites (all suites otherwise, one section each).
        metrics: accuracy columns as on-disk keys (``p@1``); ``p_at_1`` spellings are accepted too.
        merge_suites: one table per dataset across the suites, so that models run by different suites (e.g.
            PECOS in its own environment) sit beside each other. Rows stay comparable only when split, metrics
            version and k agree; any other row is flagged, exactly as within one suite.
        per_query: reads a record's per-query values (``per_query.npz``) for the paired significance test;
            ``None`` is the same as "no cell has any" (no marks, and the legend says so).
        significance: test level and resamples; ``None`` switches the test off.
        published: put the published reference of each model (harness/published) beside its rows, with
            deltas, in tables of datasets that have published numbers.

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
    n_comparisons = 0
    if significance is not None:
        n_comparisons = _test_significance(tables, columns, per_query, significance, notes, warnings)
    if published:
        attach_published(tables)
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
        significance=significance,
        n_comparisons=n_comparisons,
    )


def attach_published(tables: Iterable[Table]) -> None:
    """Look up each table's published references (after bold and the test, which must never see them)."""
    from harness.published.compare import table_references

    for table in tables:
        table.published = table_references(table.dataset, [row.model for row in table.rows])


def delta_columns(report: Report, table: Table) -> list[Column]:
    """The accuracy columns of ``table`` that get an "ours − published" column; empty without references."""
    if table.published is None:
        return []
    keys = table.published.delta_keys([c.key for c in report.columns if c.kind == "accuracy"])
    return [c for c in report.columns if c.key in keys]


def row_delta(table: Table, row: Row, col: Column) -> float | None:
    """Ours minus published for one cell, in points; ``None`` without a reference value or a mean."""
    ref = table.published.references.get(row.model) if table.published else None
    stat = row.stats.get(col.key)
    return None if ref is None or stat is None else ref.delta(col.key, stat.mean)


def reference_after(table: Table, index: int) -> Reference | None:
    """The reference to show after row ``index``: the model's, once, after its last row (rows are by model)."""
    if table.published is None:
        return None
    model = table.rows[index].model
    if index + 1 < len(table.rows) and table.rows[index + 1].model == model:
        return None
    return table.published.references.get(model)


#: Footnote of a comparable row that could not be tested (its cells predate per_query.npz).
NO_PER_QUERY_NOTE = (
    "no per-query values (per_query.npz, written by cells since the paired test was added): not tested "
    "for significance; where this row is the best of a column, no row of that column is"
)


def _test_significance(
    tables: list[Table],
    columns: list[Column],
    loader: PerQueryLoader | None,
    settings: SignificanceSettings,
    notes: dict[str, int],
    warnings: list[str],
) -> int:
    """Run the paired tests of every table; footnote untested rows, but only if some row was tested.

    When no cell at all has per-query values (a runs folder from before the test existed), a footnote on
    every row would say nothing the legend cannot say once.
    """
    untested: list[Row] = []
    for table in tables:
        missing = compare_with_best(table, columns, loader or _no_values, settings, warnings)
        if table.best:  # with fewer than two comparable rows nothing is compared, so nothing is missing
            untested += missing
    n_comparisons = sum(len(row.significance) for table in tables for row in table.rows)
    if n_comparisons:
        for row in untested:
            row.notes.append(notes.setdefault(NO_PER_QUERY_NOTE, len(notes) + 1))
    return n_comparisons


def _no_values(record: ResultRecord) -> None:
    return None


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
        if row.not_converged:
            row.notes.append(notes.setdefault(not_converged_note(row), len(notes) + 1))
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


#: How the report names each budget that can end training before convergence (FitReport.stop_reason).
STOP_REASONS = {"time_budget": "time budget", "max_epochs": "epoch cap", "max_steps": "step cap"}


def stop_reason_text(reason: str | None) -> str:
    """``"time_budget"`` -> ``"time budget"``; an unknown reason is shown as recorded."""
    return STOP_REASONS.get(str(reason), str(reason or "unknown").replace("_", " "))


def not_converged_reasons(row: Row) -> str:
    """The budgets that cut this row's seeds, e.g. ``"time budget"`` or ``"time budget, epoch cap"``."""
    return ", ".join(_distinct(stop_reason_text(fit_stop(r)[0]) for r in row.not_converged))


def not_converged_note(row: Row) -> str:
    """The footnote of a row with unconverged seeds: which budget, at which epoch, and what it means."""
    parts = []
    for rec in row.not_converged:
        fit = rec.get("fit") or {}
        text = f"seed {rec['seed']}: {stop_reason_text(fit_stop(rec)[0])} after epoch {fit.get('epochs_run', '?')}"
        if fit.get("best_epoch") is not None:
            text += f", best epoch {fit['best_epoch']}"
        parts.append(text)
    cut, total = len(row.not_converged), len(row.records)
    seeds = f"{cut} of {total} seeds" if total > 1 else "the seed"
    return (
        f"not converged ({'; '.join(parts)}): training of {seeds} was cut by the budget before the validation "
        "metric plateaued, so the row shows the model at that budget, not its quality at convergence"
    )


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
