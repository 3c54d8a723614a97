"""Which published number belongs beside a harness model, and why there is none when there is none.

Harness model names are not method names of the literature: ``lightxml`` here is the LightXML framework on
the InceptionXML encoder, while every published LightXML is BERT-based; ``omikuji-parabel`` is a
re-implementation of Parabel. The mapping below therefore carries, per model, the published method names
it may be compared with, a caveat that travels with any reference, and the reason printed when there is no
number, so that a report never shows a blank where it should say "no published number".

Usage::

    from harness.published.lookup import lookup
    found = lookup("AmazonTitles-670K", "lightxml-minilm")
    found.reference.label, found.message          # "LightXML (single model)", "LightXML (single model), RENEE T1"
    lookup("AmazonTitles-670K", "syncxml").message  # "no published number: ..."
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.published.table import VARIANTS, WEAK_FLAGS, PublishedRow, PublishedTable, default_table
from harness.registry import UnknownNameError, did_you_mean


@dataclass(frozen=True)
class ModelMapping:
    """The published methods one harness model may be compared with."""

    methods: tuple[str, ...]
    caveat: str = ""  # how the harness model differs from the published one; shown with every reference
    missing: str = ""  # why no number may exist (published-results.md §5); shown when none is found


_TREES = "the published rows are the original implementation on CPU; the harness runs omikuji's re-implementation"
#: Harness model name -> mapping. Names not registered yet (astec, ...) are here so that results of future
#: models find their references without a code change.
MODELS: dict[str, ModelMapping] = {
    "inceptionxml": ModelMapping(
        ("InceptionXML",),
        caveat="as reported in publication; whether plain InceptionXML or InceptionXML+ is not stated",
        missing="no InceptionXML number on this dataset; the only published ones are the XCR ♦ rows on "
        "WikiSeeAlsoTitles-350K, WikiTitles-500K and AmazonTitles-670K",
    ),
    # The XC repository's InceptionXML rows do not say which variant they are (published-results.md §6): they
    # are the only published numbers of the paper, so syncxml shows them too, with that doubt beside them.
    "syncxml": ModelMapping(
        ("SyncXML", "InceptionXML+", "InceptionXML"),
        caveat="the published row is labelled InceptionXML; whether it is InceptionXML or InceptionXML+ (SyncXML) "
        "is not stated",
        missing="no SyncXML/InceptionXML+ number was found in any source (the paper's tables could not be read), "
        "and no InceptionXML number on this dataset",
    ),
    "lightxml": ModelMapping(
        ("InceptionXML-LF",),
        missing="InceptionXML-LF, the closest published model, has no number in the table; published LightXML "
        "rows are BERT-based and not the same model as this LightXML on the InceptionXML encoder",
    ),
    "lightxml-minilm": ModelMapping(
        ("LightXML",),
        caveat="published LightXML uses a BERT-family encoder, mostly as a 3-model ensemble; lightxml-minilm "
        "is one model on all-MiniLM-L6-v2",
        missing="no published LightXML number on this dataset",
    ),
    "omikuji-parabel": ModelMapping(("Parabel",), caveat=_TREES),
    "omikuji-bonsai": ModelMapping(("Bonsai",), caveat=_TREES),
    "napkinxc-plt": ModelMapping(
        ("napkinXC PLT",),
        missing="no published napkinXC number on these datasets; Parabel and Bonsai are the closest tree methods",
    ),
    "pecos-xrlinear": ModelMapping(
        ("XR-Linear",), missing="no published XR-Linear (PECOS) number on any of the seven short-text datasets"
    ),
    "knn": ModelMapping(
        (),
        missing="kNN is not published as a classifier; the [emb-only] dense-retrieval rows of DEXA T2 are "
        "the closest references (harness published DATASET)",
    ),
    "astec": ModelMapping(("Astec",)),
    "lightdxml": ModelMapping(("LightDXML",), missing="no published LightDXML number was found"),
    "xr-transformer": ModelMapping(("XR-Transformer",)),
    "cascadexml": ModelMapping(("CascadeXML",)),
    "elias": ModelMapping(("ELIAS",)),
}
#: Short names accepted for the tree peers (their published method names).
MODEL_ALIASES = {"parabel": "omikuji-parabel", "bonsai": "omikuji-bonsai"}


@dataclass(frozen=True)
class Lookup:
    """The outcome of one (dataset, harness model) lookup, with a sentence for humans either way."""

    dataset: str
    model: str
    rows: tuple[PublishedRow, ...]  # every row of the mapped methods on the dataset, preferred first
    reference: PublishedRow | None  # the row to compare with: has accuracy numbers, preferred variant
    message: str

    @property
    def found(self) -> bool:
        return self.reference is not None


def mapping(model: str) -> ModelMapping | None:
    """The mapping of a harness model name (or alias), ``None`` for a model the table knows nothing about."""
    name = model.lower()
    return MODELS.get(MODEL_ALIASES.get(name, name))


def preference(row: PublishedRow) -> tuple[int, int]:
    """Sort key: single models first, ensembles last, and among equals rows read without doubt first.

    A harness row is one model, so comparing it with an ensemble overstates the gap; the file order
    (XCR rows first, the canonical reference by published-results.md §4) breaks the remaining ties.
    """
    rank = VARIANTS[row.variant][0] if row.variant in VARIANTS else VARIANTS["ensemble-3"][0]
    return rank, len(WEAK_FLAGS.intersection(row.flags))


def canonical_dataset(name: str, table: PublishedTable | None = None) -> str:
    """The registry's canonical name of ``name`` (aliases, any case); an error with a suggestion otherwise."""
    from harness.data.catalog import dataset_registry

    table = table or default_table()
    try:
        return dataset_registry.canonical(name)
    except UnknownNameError:
        known = table.datasets()
        raise HarnessError(
            f"unknown dataset {name!r}.{did_you_mean(name, known + dataset_registry.names())} "
            f"Datasets with published numbers: {', '.join(known)}"
        ) from None


def lookup(dataset: str, model: str, table: PublishedTable | None = None) -> Lookup:
    """The published reference for ``model`` on ``dataset`` (a registry name or alias)."""
    table = table or default_table()
    with contextlib.suppress(HarnessError):  # a dataset outside the registry simply has no published numbers
        dataset = canonical_dataset(dataset, table)
    found = mapping(model)
    if found is None:
        return Lookup(dataset, model, (), None, "no published number: no published method is mapped to this model")
    wanted = {m.lower() for m in found.methods}
    rows = [r for r in table.for_dataset(dataset) if r.method.lower() in wanted]
    rows.sort(key=preference)
    candidates = [r for r in rows if r.has_accuracy and r.variant not in ("emb-only", "sparse-retrieval")]
    if not candidates:
        scalable = [r for r in rows if "not-scalable" in r.flags]
        if scalable:
            why = f"{scalable[0].method} reported as not scalable on {dataset} ({scalable[0].short_source})"
        elif found.missing:
            why = found.missing
        else:
            why = f"no published {' / '.join(found.methods)} number on {dataset}"
        return Lookup(dataset, model, tuple(rows), None, f"no published number: {why}")
    best = candidates[0]
    message = f"{best.display_name}, {best.short_source}"
    if best.ensemble_size:
        message += " (an ensemble: no single-model number is published)"
    if found.caveat:
        message += f"; {found.caveat}"
    return Lookup(dataset, model, tuple(rows), best, message)
