"""Plan a suite run: resolve datasets, models and configs into cells, each with a content-addressed key and folder.

Usage::

    from harness.runner.plan import plan_suite
    plan = plan_suite(load_suite("smoke"), runs_dir=Path("runs"))
    for cell in plan.cells:
        cell.key, cell.dir     # sha256 of what moves the numbers; runs/<suite>/<ds>/<model>/seed-<n>/<key12>/
    plan.skipped               # {dataset: why} for datasets missing under --missing skip

A cell is one (dataset, model, seed). Its key hashes the resolved model config, the dataset's sha256, the
validation split's manifest hash, the seed, ``METRICS_VERSION``, k and the resolved device: anything that
can change a number. Threads and profiling options change timings only and are recorded, not keyed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness import METRICS_VERSION
from harness.data.word_vectors import word_vectors_path
from harness.errors import HarnessError
from harness.models.config_types import check_types
from harness.profiling.options import ProfilingOptions
from harness.registry import did_you_mean
from harness.runner.dataset_ref import MissingDatasetError, dataset_identity, dataset_ref
from harness.suites import Suite

#: Comma-separated modules imported before models are looked up (parent and every cell process), so that
#: a model living outside the harness registers itself without editing ``harness/models/__init__.py``.
PLUGINS_ENV = "HARNESS_PLUGINS"


def import_plugins() -> list[str]:
    """Import the modules named in ``$HARNESS_PLUGINS``; returns their names (recorded with each cell)."""
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise HarnessError(f"{PLUGINS_ENV}: cannot import plugin module {name!r} ({exc})") from None
    return names


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the same data always gives the same bytes (and the same key)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def cell_key(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a cell's key payload (see :meth:`CellSpec.key_payload`)."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


@dataclass
class CellSpec:
    """Everything one cell process needs, written to ``cell.json`` in the cell folder before it starts."""

    suite: str
    dataset: str  # canonical name (folder name for a path)
    dataset_ref: str  # what load_dataset() receives: a registered name or a folder path
    data_dir: str | None
    model: str
    overrides: dict[str, Any]
    config: dict[str, Any]  # the fully resolved model config
    seed: int
    k: int
    val_fraction: float
    split_seed: int
    device: str  # resolved: "cpu" or "cuda"
    threads: int
    dataset_info: dict[str, Any]  # results.DatasetInfo
    profiling: dict[str, Any] = field(default_factory=dict)
    keep_models: bool = False
    timeout: float | None = None
    plugins: list[str] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)  # files the config names, by content (word vectors)
    notes: list[str] = field(default_factory=list)  # the suite's deviations for this (model, dataset)
    git_sha: str | None = None
    git_dirty: bool | None = None
    key: str = ""
    dir: str = ""

    def key_payload(self) -> dict[str, Any]:
        """What identifies the cell's numbers; changing any of it gives a new key and a new folder."""
        config = self.config
        vectors = self.inputs.get("word_vectors")
        if vectors is not None:  # the file's content, not where it lies, identifies the numbers
            config = {**config, "embedding_path": f"sha256:{vectors['sha256']}"}
        payload = {
            "model": self.model,
            "config": config,
            "dataset": {"name": self.dataset, "sha256": self.dataset_info["sha256"]},
            "split_manifest_hash": self.dataset_info["split_manifest_hash"],
            "val_fraction": self.val_fraction,
            "split_seed": self.split_seed,
            "seed": self.seed,
            "k": self.k,
            "metrics_version": METRICS_VERSION,
            "device": self.device,
        }
        measured = ProfilingOptions.from_suite(self.profiling).measured_key()
        if measured:  # figures switched off are another cell: switching them on must not find it "done"
            payload["profiling"] = measured
        return payload

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def label(self) -> str:
        """``dataset · model · seed n``, for progress lines."""
        return f"{self.dataset} · {self.model} · seed {self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellSpec:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


@dataclass
class Plan:
    """The cells of one invocation, in run order (dataset, then model, then seed), and skipped datasets."""

    suite: Suite
    runs_dir: Path
    cells: list[CellSpec]
    skipped: dict[str, str] = field(default_factory=dict)


# Models and configs ----------------------------------------------------------------------------------
def resolve_config(model: str, overrides: dict[str, Any], where: str = "") -> dict[str, Any]:
    """The model's full config with ``overrides`` applied, as JSON data; unknown fields get a suggestion.

    Validating here, before any cell starts, turns a typo such as ``epoch: 5`` into one clear error instead
    of a column of failed cells; ``where`` (e.g. ``"AmazonTitles-670K: "``) prefixes the message.
    """
    from harness.models import model_registry

    cls = model_registry.get(model)
    config_cls = getattr(cls, "Config", None)
    if config_cls is None or not dataclasses.is_dataclass(config_cls):
        if overrides:
            raise HarnessError(f"{where}{model} has no dataclass Config, so it takes no overrides: {sorted(overrides)}")
        return {}
    names = [f.name for f in dataclasses.fields(config_cls)]
    for key in overrides:
        if key not in names:
            raise HarnessError(f"{where}{model}: unknown config field {key!r}.{did_you_mean(key, names)}")
    check_types(config_cls, overrides, f"{where}{model}")
    try:
        config = dataclasses.replace(config_cls(), **overrides)
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"{where}{model}: invalid config overrides {overrides}: {exc}") from None
    return config_data(config)


def config_data(config: Any) -> dict[str, Any]:
    """A config dataclass as the JSON data a cell records and its key hashes (tuples become lists)."""
    data = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
    return json.loads(canonical_json(data))


def select_models(suite: Suite, requested: Sequence[str] | None) -> list[str]:
    """Canonical model names to run: ``requested`` (``--models``) or the suite's default list."""
    from harness.models import model_registry

    names = list(requested) if requested else list(suite.default_models)
    if not names:
        raise HarnessError(f"suite {suite.name} lists no default models; pass --models a,b")
    out = [model_registry.canonical(name) for name in names]  # UnknownNameError suggests the closest
    return list(dict.fromkeys(out))


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    has_cuda = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device == "cuda" and not has_cuda:
        raise HarnessError("--device cuda was requested but torch sees no GPU (install a CUDA build of torch)")
    if device not in ("cpu", "cuda"):
        raise HarnessError(f"device must be auto, cpu or cuda, got {device!r}")
    return device


def checked_timeout(timeout: float | None, suite: Suite) -> float | None:
    """The per-cell time limit (``--timeout-per-cell``, else the suite's): a positive, finite number or ``None``."""
    import math

    value, source = (
        (timeout, "--timeout-per-cell") if timeout is not None else (suite.timeout_per_cell, "timeout_per_cell")
    )
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise HarnessError(f"{source} must be a positive number of seconds, got {value!r}")
    return float(value)


def default_threads() -> int:
    """Every CPU this process may run on (the affinity mask, which respects taskset/cgroup pinning)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def git_state() -> tuple[str | None, bool | None]:
    """``(sha, dirty)`` of the checkout the harness runs from, or ``(None, None)`` outside git."""
    try:
        from harness.profiling.env import git_info
    except ImportError:  # the profiling package is optional for planning
        return None, None
    info = git_info()
    return info.get("git_sha"), info.get("git_dirty")


# The plan ------------------------------------------------------------------------------------------------
def plan_suite(
    suite: Suite,
    runs_dir: Path,
    *,
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    device: str | None = None,
    threads: int | None = None,
    data_dir: str | None = None,
    missing: str = "fail",
    timeout: float | None = None,
    settings: Sequence[str] = (),
    word_vectors: str | os.PathLike[str] | None = None,
) -> Plan:
    """Resolve a suite (plus command-line restrictions) into cells with keys and folders.

    Args:
        missing: ``"fail"`` raises one error listing every dataset that is not on disk, with download
            instructions; ``"skip"`` leaves them out and reports them in ``Plan.skipped``.
        settings: command-line overrides ``[MODEL.]FIELD=VALUE`` (``--set``), applied on top of the suite's
            settings for every dataset; see :func:`parse_settings`.
        word_vectors: the GloVe-format file for models configured with ``embeddings: glove-text`` (``--glove``;
            default ``$HARNESS_GLOVE``); checked line by line before any cell and keyed by its sha256.

    Raises:
        HarnessError: unknown model or config field, missing datasets under ``missing="fail"``, a dataset whose
            files changed since its split was fixed, or a requested device that is not there.
    """
    cell_timeout = checked_timeout(timeout, suite)
    plugins = import_plugins()
    model_names = select_models(suite, models)
    cli = parse_settings(settings, model_names)
    vectors_path = word_vectors_path(word_vectors)

    def overrides_for(model: str, name: str) -> dict[str, Any]:
        return {**suite.overrides_for(model, name), **cli.get(model, {})}

    # Every (model, dataset) config the suite can produce is resolved now, the per-dataset ones of datasets that
    # are skipped or not selected included, so that a typo anywhere in the file stops the run before any cell.
    by_name = {
        (model, name): resolve_config(model, overrides_for(model, name), where=f"{name}: ")
        for model in model_names
        for name in suite.datasets
    }
    resolved = {(model, name.lower()): cfg for (model, name), cfg in by_name.items()}
    resolved_device = resolve_device(device or suite.device)
    n_threads = threads or suite.threads or default_threads()
    seed_list = list(seeds) if seeds else list(suite.seeds)
    sha, dirty = git_state()

    refs: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    for name in datasets or suite.datasets:
        try:
            refs.append(dataset_ref(name, data_dir))
        except MissingDatasetError as exc:
            skipped[name] = str(exc)
    if skipped and missing != "skip":
        lines = "\n".join(f"  - {why}" for why in skipped.values())  # each message names its dataset
        raise HarnessError(
            f"{len(skipped)} dataset(s) of suite {suite.name} are not available:\n{lines}\n"
            "Download them, point --data-dir (or $HARNESS_DATA) at their parent folder, or pass --missing skip."
        )
    if not refs:
        raise HarnessError(f"suite {suite.name}: no dataset to run (all {len(skipped)} are missing)")
    vectors = attach_word_vectors(by_name, vectors_path, cli)  # fills embedding_path in the resolved configs

    cells = []
    for name, ref in dict.fromkeys(refs):
        info = dataset_identity(ref, data_dir, suite.val_fraction, suite.split_seed)
        if suite.k > int(info["n_labels"]):  # k > L would rank labels that do not exist (and size arrays by k)
            raise HarnessError(
                f"suite {suite.name}: k: {suite.k} is more than the {info['n_labels']} labels of dataset {name!r}; "
                f"set k to at most {info['n_labels']}"
            )
        for model in model_names:
            overrides = overrides_for(model, name)
            config = resolved.get((model, name.lower()))
            if config is None:  # a dataset the suite does not list (a folder given with --datasets)
                config = resolve_config(model, overrides, where=f"{name}: ")
                vectors.update(attach_word_vectors({(model, name): config}, vectors_path, cli, unused_ok=True))
            inputs = {}
            if config.get("embeddings") == "glove-text":
                inputs["word_vectors"] = vectors[config["embedding_path"]]
                overrides["embedding_path"] = config["embedding_path"]
            for seed in seed_list:
                cell = CellSpec(
                    suite=suite.name,
                    dataset=name,
                    dataset_ref=ref,
                    data_dir=data_dir,
                    model=model,
                    overrides=overrides,
                    config=config,
                    seed=int(seed),
                    k=suite.k,
                    val_fraction=suite.val_fraction,
                    split_seed=suite.split_seed,
                    device=resolved_device,
                    threads=n_threads,
                    dataset_info=info,
                    profiling=dict(suite.profiling),
                    keep_models=suite.keep_models,
                    timeout=cell_timeout,
                    plugins=plugins,
                    inputs=inputs,
                    notes=suite.notes_for(model, name),
                    git_sha=sha,
                    git_dirty=dirty,
                )
                cell.key = cell_key(cell.key_payload())
                cell.dir = str(runs_dir / suite.name / name / model / f"seed-{seed}" / cell.key[:12])
                cells.append(cell)
    return Plan(suite=suite, runs_dir=runs_dir, cells=cells, skipped=skipped)


def parse_settings(settings: Sequence[str], model_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``--set [MODEL.]FIELD=VALUE`` items as ``{model: {field: value}}`` over the models being run.

    VALUE is read as YAML (``3``, ``0.5``, ``null``, ``true``, ``[4, 8]``, or a string). Without ``MODEL.``, the
    setting applies to every model being run whose config has the field (``--set max_steps=20`` caps them all);
    a field no such model has, or a model not being run, is an error with the closest name.
    """
    import yaml

    from harness.models import model_registry

    fields = {m: _config_fields(m) for m in model_names}
    out: dict[str, dict[str, Any]] = {}
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise HarnessError(f"--set {item!r}: expected [MODEL.]FIELD=VALUE, e.g. --set syncxml.top_k_clusters=100")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise HarnessError(f"--set {item!r}: unreadable value ({exc})") from None
        model, dot, name = key.strip().rpartition(".")
        if dot:
            try:
                model = model_registry.canonical(model)
            except Exception as exc:
                raise HarnessError(f"--set {item!r}: {exc}") from None
            if model not in fields:
                raise HarnessError(f"--set {item!r}: {model} is not among the models being run ({', '.join(fields)})")
            if name not in fields[model]:
                raise HarnessError(f"--set {item!r}: {model} has no field {name!r}.{did_you_mean(name, fields[model])}")
            targets = [model]
        else:
            targets = [m for m in model_names if name in fields[m]]
            if not targets:
                known = sorted({f for names in fields.values() for f in names})
                raise HarnessError(
                    f"--set {item!r}: no model being run has a field {name!r}.{did_you_mean(name, known)}"
                )
        for target in targets:
            out.setdefault(target, {})[name] = value
    return out


def _config_fields(model: str) -> list[str]:
    from harness.models import model_registry

    config_cls = getattr(model_registry.get(model), "Config", None)
    if config_cls is None or not dataclasses.is_dataclass(config_cls):
        return []
    return [f.name for f in dataclasses.fields(config_cls)]


def attach_word_vectors(
    resolved: dict[tuple[str, str], dict[str, Any]],
    path: Path | None,
    cli: dict[str, dict[str, Any]],
    *,
    unused_ok: bool = False,
) -> dict[str, dict[str, Any]]:
    """Point every ``glove-text`` config at the word-vector file and check each file once, before any cell runs.

    ``path`` (``--glove`` or ``$HARNESS_GLOVE``) fills ``embedding_path`` where the suite left it empty, in
    ``resolved`` in place. Returns ``{path: check_word_vectors(path)}`` for every file a config names.
    """
    from harness.data.word_vectors import WHERE_TO_GET, check_word_vectors

    users = [(key, cfg) for key, cfg in resolved.items() if cfg.get("embeddings") == "glove-text"]
    if path is not None and not users and not unused_ok:
        raise HarnessError(
            f"--glove/$HARNESS_GLOVE names {path}, but no model being run reads word vectors from a file "
            "(embeddings: glove-text); leave it out, or add --set embeddings=glove-text"
        )
    checked: dict[str, dict[str, Any]] = {}
    for (model, dataset), cfg in users:
        explicit = cli.get(model, {}).get("embedding_path")
        if cfg.get("embedding_path") is None or (path is not None and explicit is None):
            if path is None:
                raise HarnessError(
                    f"{dataset}: {model} uses embeddings: glove-text but no word-vector file was given. {WHERE_TO_GET}"
                )
            cfg["embedding_path"] = str(path)
        file = str(Path(cfg["embedding_path"]).expanduser().resolve())
        cfg["embedding_path"] = file
        if file not in checked:
            checked[file] = check_word_vectors(file)
    return checked


def show_config(plan: Plan, out: TextIO) -> None:
    """Write the resolved per-cell configuration of ``plan`` as one JSON document (``--show-config``)."""
    cells = []
    for spec in plan.cells:
        data = spec.to_dict()
        data["key_payload"] = spec.key_payload()
        cells.append(data)
    json.dump({"suite": plan.suite.name, "skipped_datasets": plan.skipped, "cells": cells}, out, indent=2)
    out.write("\n")
