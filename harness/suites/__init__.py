"""Benchmark suites: committed YAML files in this folder, one per suite, loaded and validated as :class:`Suite`.

Usage::

    from harness.suites import list_suites, load_suite
    list_suites()                      # [{"name": ..., "datasets": ..., "models": ..., ...}, ...]
    suite = load_suite("offline")      # Suite(name="offline", datasets=("wordnet-nouns",), ...)
    suite.overrides_for("inceptionxml")   # {"epochs": ..., ...}: the suite's per-model settings
    suite.overrides_for("syncxml", "AmazonTitles-670K")   # ... with that dataset's own settings on top

A suite names *what* to run (datasets x models x seeds) and the protocol options that apply to every cell
(k, validation split, device, threads, profiling). docs/running.md describes every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.profiling.options import ProfilingOptions
from harness.registry import UnknownNameError, did_you_mean

SUITES_DIR = Path(__file__).resolve().parent

#: Every key a suite file may hold; anything else is a typo and refused with a suggestion.
FIELDS = (
    "description",
    "datasets",
    "models",
    "default_models",
    "seeds",
    "k",
    "val_fraction",
    "split_seed",
    "device",
    "threads",
    "profiling",
    "timeout_per_cell",
    "keep_models",
)
DEVICES = ("auto", "cpu", "cuda")
#: The key inside a model's settings that maps dataset names to settings of their own (see :class:`Suite`).
PER_DATASET = "per_dataset"
#: The key, in a model's settings or in one dataset's, listing deviations from the paper the suite's values make
#: (e.g. a dropout the official code has no value for); recorded with every result they apply to.
NOTES = "notes"
#: Top-level keys with this prefix hold YAML anchors shared by several models (``x-encoder: &encoder {...}``)
#: and are otherwise ignored, as docker-compose's extension fields are.
ANCHOR_PREFIX = "x-"


@dataclass(frozen=True)
class Suite:
    """A validated suite file.

    Attributes:
        name: the file's stem (``offline`` for ``offline.yaml``).
        description: one line for ``harness ls suites``.
        datasets: dataset names (registered, embedded or synthetic) in run order.
        models: per-model config overrides, ``{model: {field: value}}``; a model run with ``--models`` but not
            listed here runs with its registry defaults.
        per_dataset: per-model, per-dataset overrides applied on top of ``models``:
            ``{model: {dataset: {field: value}}}``, written in the file as a ``per_dataset:`` mapping inside
            the model's settings. The papers tune dropouts, vocabulary caps and cluster counts per dataset;
            this is where a suite says so, and the cell key hashes the merged config.
        notes: ``{model: {dataset: [note, ...]}}`` (``""`` for notes of every dataset): deviations from the paper
            that the suite's values make, written as ``notes:`` lists in a model's or a dataset's settings and
            recorded with each result among its deviations.
        default_models: the models run when ``--models`` is not given (default: every key of ``models``).
        seeds: model seeds (each is one cell per dataset x model).
        k: top-k kept per test point and the largest rank scored.
        val_fraction, split_seed: the validation split carved from train; identical for every model and
            seed, so that all models are selected on the same points.
        device: ``auto`` (cuda when available), ``cpu`` or ``cuda``.
        threads: torch intra-op threads per cell (``None``: every CPU the process may use).
        profiling: the profiler's options (:class:`~harness.profiling.options.ProfilingOptions`, checked here;
            ``enabled: false`` skips it).
        timeout_per_cell: seconds before a cell is killed and recorded as failed (``None``: no limit).
        keep_models: keep each fitted model in its cell folder (``model/``); off by default because
            real-benchmark models are hundreds of MB per cell.
    """

    name: str
    description: str = ""
    datasets: tuple[str, ...] = ()
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_dataset: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    default_models: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    k: int = 5
    val_fraction: float = 0.1
    split_seed: int = 0
    device: str = "auto"
    threads: int | None = None
    profiling: dict[str, Any] = field(default_factory=dict)
    timeout_per_cell: float | None = None
    keep_models: bool = False
    path: Path | None = None

    def overrides_for(self, model: str, dataset: str | None = None) -> dict[str, Any]:
        """The suite's config overrides for ``model`` (case-insensitive name), ``{}`` when it has none.

        With ``dataset``, that dataset's own settings (``per_dataset``, case-insensitive name) are applied on
        top of the model's; a dataset without an entry gets the model's settings alone.
        """
        out: dict[str, Any] = {}
        for name, overrides in self.models.items():
            if name.lower() == model.lower():
                out = dict(overrides)
                for ds, extra in self.per_dataset.get(name, {}).items():
                    if dataset is not None and ds.lower() == dataset.lower():
                        out.update(extra)
        return out

    def notes_for(self, model: str, dataset: str) -> list[str]:
        """The suite's notes for ``model`` on ``dataset``: the model's own, then the dataset's."""
        for name, by_dataset in self.notes.items():
            if name.lower() == model.lower():
                specific = [v for ds, v in by_dataset.items() if ds and ds.lower() == dataset.lower()]
                return [*by_dataset.get("", []), *(n for notes in specific for n in notes)]
        return []


def suite_names() -> list[str]:
    """Names of the committed suites, sorted."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def _read(path: Path) -> dict[str, Any]:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise HarnessError(f"{path}: unreadable suite file ({exc})") from None
    if not isinstance(spec, dict):
        raise HarnessError(f"{path}: a suite file must be a mapping of fields, got {type(spec).__name__}")
    return spec


def load_suite(name_or_path: str | Path) -> Suite:
    """Load and validate a committed suite by name, or any suite YAML file by path.

    Raises:
        UnknownNameError: no committed suite of that name (the message suggests the closest).
        HarnessError: an unknown field (with a suggestion) or a value of the wrong type or range.
    """
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise HarnessError(f"suite file {path} not found")
    else:
        known = suite_names()
        matches = [n for n in known if n.lower() == text.lower()]
        if not matches:
            raise UnknownNameError(
                f"unknown suite {text!r}.{did_you_mean(text, known)} Known suites: {', '.join(known) or '(none)'}"
            )
        path = SUITES_DIR / f"{matches[0]}.yaml"
    return parse_suite(path.stem, _read(path), path)


def parse_suite(name: str, spec: dict[str, Any], path: Path | None = None) -> Suite:
    """Validate a suite mapping (as read from YAML) into a :class:`Suite`; errors name the file and field."""
    where = str(path) if path is not None else f"suite {name!r}"
    spec = {k: v for k, v in spec.items() if not str(k).startswith(ANCHOR_PREFIX)}
    for key in spec:
        if key not in FIELDS:
            raise HarnessError(f"{where}: unknown field {key!r}.{did_you_mean(str(key), list(FIELDS))}")

    def fail(field_name: str, problem: str) -> HarnessError:
        return HarnessError(f"{where}: {field_name}: {problem}")

    datasets = _str_list(spec.get("datasets", []), "datasets", fail)
    if not datasets:
        raise fail("datasets", "lists no dataset")
    models_raw = spec.get("models") or {}
    if isinstance(models_raw, list):  # a plain list of names: no overrides
        models_raw = {m: {} for m in _str_list(models_raw, "models", fail)}
    if not isinstance(models_raw, dict):
        raise fail("models", "must map model names to their config overrides")
    models: dict[str, dict[str, Any]] = {}
    per_dataset: dict[str, dict[str, dict[str, Any]]] = {}
    notes: dict[str, dict[str, list[str]]] = {}
    for model, overrides in models_raw.items():
        if overrides is not None and not isinstance(overrides, dict):
            raise fail(f"models.{model}", "overrides must be a mapping of config fields to values")
        models[str(model)] = dict(overrides or {})
        model_notes = {"": _notes(models[str(model)].pop(NOTES, []), f"models.{model}.{NOTES}", fail)}
        specific = models[str(model)].pop(PER_DATASET, None)
        if specific is not None:
            per_dataset[str(model)] = _per_dataset(specific, f"models.{model}.{PER_DATASET}", datasets, fail)
            for ds, settings in per_dataset[str(model)].items():
                model_notes[ds] = _notes(settings.pop(NOTES, []), f"models.{model}.{PER_DATASET}.{ds}.{NOTES}", fail)
        notes[str(model)] = {ds: n for ds, n in model_notes.items() if n}
    default_models = _str_list(spec.get("default_models", list(models)), "default_models", fail)
    seeds = spec.get("seeds", [0])
    seeds = [seeds] if isinstance(seeds, int) else seeds
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        raise fail("seeds", f"must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise fail("seeds", f"repeats a seed: {seeds}")
    k = spec.get("k", 5)
    if not _is_int(k) or k < 1:
        raise fail("k", f"must be a positive integer, got {k!r}")
    fraction = spec.get("val_fraction", 0.1)
    if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise fail("val_fraction", f"must be in (0, 1), got {fraction!r}")
    split_seed = spec.get("split_seed", 0)
    if not _is_int(split_seed) or split_seed < 0:
        raise fail("split_seed", f"must be a non-negative integer, got {split_seed!r}")
    device = spec.get("device", "auto")
    if device not in DEVICES:
        raise fail("device", f"must be one of {', '.join(DEVICES)}, got {device!r}")
    threads = spec.get("threads")
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise fail("threads", f"must be a positive integer or null, got {threads!r}")
    profiling = spec.get("profiling") or {}
    if not isinstance(profiling, dict):
        raise fail("profiling", "must be a mapping of profiler options")
    ProfilingOptions.from_suite(profiling, f"{where}: profiling")  # unknown keys, types and ranges
    timeout = spec.get("timeout_per_cell")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise fail("timeout_per_cell", f"must be a positive number of seconds or null, got {timeout!r}")
    keep = spec.get("keep_models", False)
    if not isinstance(keep, bool):
        raise fail("keep_models", f"must be true or false, got {keep!r}")
    return Suite(
        name=name,
        description=str(spec.get("description", "")).strip(),
        datasets=tuple(datasets),
        models=models,
        per_dataset=per_dataset,
        notes={m: n for m, n in notes.items() if n},
        default_models=tuple(default_models),
        seeds=tuple(int(s) for s in seeds),
        k=int(k),
        val_fraction=float(fraction),
        split_seed=int(split_seed),
        device=str(device),
        threads=int(threads) if threads is not None else None,
        profiling=dict(profiling),
        timeout_per_cell=float(timeout) if timeout is not None else None,
        keep_models=keep,
        path=path,
    )


def _per_dataset(value: Any, where: str, datasets: list[str], fail: Any) -> dict[str, dict[str, Any]]:
    """``{dataset: {field: value}}`` checked: mappings only, and every dataset one the suite lists.

    A name the suite does not list would silently never apply (a typo such as ``AmazonTitle-670K`` would
    leave the paper's dropouts out of that dataset's cells), so it is an error with the closest name.
    """
    if not isinstance(value, dict):
        raise fail(where, "must map dataset names to their settings")
    known = {d.lower(): d for d in datasets}
    out: dict[str, dict[str, Any]] = {}
    for name, settings in value.items():
        if str(name).lower() not in known:
            hint = did_you_mean(str(name), datasets)
            raise fail(
                where, f"dataset {name!r} is not in the suite's datasets.{hint} The suite lists: {', '.join(datasets)}"
            )
        if not isinstance(settings, dict):
            raise fail(f"{where}.{name}", "must be a mapping of config fields to values")
        if PER_DATASET in settings:
            raise fail(f"{where}.{name}", f"{PER_DATASET} cannot be nested")
        out[known[str(name).lower()]] = dict(settings)
    return out


def _notes(value: Any, where: str, fail: Any) -> list[str]:
    """A ``notes:`` entry: one string or a list of non-empty strings."""
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(where, f"must be a list of sentences, got {value!r}")
    return [v.strip() for v in value]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_list(value: Any, field_name: str, fail: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail(field_name, f"must be a list of names, got {value!r}")
    return list(value)


def list_suites() -> list[dict[str, str]]:
    """Name, datasets, default models, seeds and description of every committed suite, sorted by name.

    A suite file that does not validate is still listed (with the error as its description), so that
    ``harness ls suites`` never hides a broken file.
    """
    rows = []
    for name in suite_names():
        try:
            suite = load_suite(name)
        except HarnessError as exc:
            rows.append({"name": name, "datasets": "", "models": "", "seeds": "", "description": f"INVALID: {exc}"})
            continue
        rows.append(
            {
                "name": suite.name,
                "datasets": ", ".join(suite.datasets),
                "models": ", ".join(suite.default_models),
                "seeds": ", ".join(str(s) for s in suite.seeds),
                "description": suite.description,
            }
        )
    return rows
