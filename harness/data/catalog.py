"""Metadata of the benchmarks the harness knows by name: label counts, propensity A/B, files, citation.

No data is bundled here (except the embedded set): a user downloads an XC-repository folder and points
``--data-dir``/``$HARNESS_DATA`` at its parent; this registry supplies what cannot be read from the files.

Usage::

    from harness.data.catalog import dataset_registry
    spec = dataset_registry.get("lf-amazontitles-131k")
    spec.num_labels, spec.A, spec.B          # 131073, 0.6, 2.6
    dataset_registry.names()                 # canonical names, registration order
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.registry import Registry

#: Propensity constants used when nothing better is known: pyxclib's "other" default. The Amazon and
#: Wikipedia values were fitted to those corpora and are not claimed to fit any other data.
DEFAULT_A, DEFAULT_B = 0.55, 1.5

XC_REPOSITORY = "http://manikvarma.org/downloads/XC/XMLRepository.html"
XC_CITATION = (
    "K. Bhatia, K. Dahiya, H. Jain, P. Kar, A. Mittal, Y. Prabhu, M. Varma. The Extreme Classification "
    "Repository: Multi-label Datasets and Code. http://manikvarma.org/downloads/XC/XMLRepository.html, 2016."
)


@dataclass(frozen=True)
class DatasetSpec:
    """What the harness knows about a named dataset without reading it.

    Attributes:
        name: canonical name in XC-repository spelling.
        aliases: lower-case hyphenated alternatives accepted on the command line.
        num_labels: L as published; ``None`` when the files are the only authority (built datasets).
        A, B: propensity constants for PSP@k.
        lf: label texts ship with the data (``lbl.json.gz``) and filter files apply.
        text_field: JSON field holding the input text.
        layout: the layout the harness expects (``"json"`` text with ``trn_X_Y.txt`` labels when present).
        filter_test, filter_train: reciprocal-pair filter file names, or ``None``.
        bow_dim: published BoW feature dimension (informational; ``None`` when not verified).
        folder_names: folder names a download may carry, including known misspellings.
        download: where and how to get the raw-text files.
        citation: what to cite for the data.
        embedded: shipped inside the package (no download needed).
        notes: caveats worth knowing before comparing numbers.
    """

    name: str
    aliases: tuple[str, ...] = ()
    num_labels: int | None = None
    A: float = DEFAULT_A
    B: float = DEFAULT_B
    lf: bool = False
    text_field: str = "title"
    layout: str = "json"
    filter_test: str | None = None
    filter_train: str | None = None
    bow_dim: int | None = None
    folder_names: tuple[str, ...] = ()
    download: str = ""
    citation: str = XC_CITATION
    embedded: bool = False
    notes: str = ""

    def folders(self) -> tuple[str, ...]:
        """Folder names to try under a data dir, canonical name first."""
        return tuple(dict.fromkeys((self.name, *self.folder_names)))


dataset_registry: Registry[DatasetSpec] = Registry("dataset")


def _xc(name: str, labels: int, A: float, B: float, lf: bool, bow: int | None, *more: str, notes: str = "") -> None:
    filt = ("filter_labels_test.txt", "filter_labels_train.txt") if lf else (None, None)
    files = "trn.json.gz, tst.json.gz" + (", lbl.json.gz, filter_labels_*.txt" if lf else "")
    spec = DatasetSpec(
        name=name,
        aliases=(name.lower(),) if name.lower() != name else (),
        num_labels=labels,
        A=A,
        B=B,
        lf=lf,
        filter_test=filt[0],
        filter_train=filt[1],
        bow_dim=bow,
        folder_names=(name, *more),
        download=(
            f"Download '{name}' (raw text, plus the BoW archive for trn_X_Y.txt/tst_X_Y.txt) by hand from the "
            f"Extreme Classification Repository, {XC_REPOSITORY}, and unpack it so that <data-dir>/{name}/ "
            f"holds {files}."
        ),
        notes=notes,
    )
    dataset_registry.register(name, spec, aliases=spec.aliases)


# Label counts: InceptionXML NUM_LABELS / Astec, ECLARE and LightDXML configs (methods.md §7.1).
# A/B: InceptionXML get_inv_prop, Astec/ECLARE configs (methods.md §5): Amazon 0.6/2.6, Wiki 0.55/1.5
# for the SeeAlso sets, 0.5/0.4 for WikiTitles-500K.
_xc("LF-AmazonTitles-131K", 131_073, 0.6, 2.6, True, 40_000)
_xc(
    "LF-WikiSeeAlsoTitles-320K",
    312_330,
    0.55,
    1.5,
    True,
    None,
    notes="BoW dimension 40,000 is recalled, not verified.",
)
_xc(
    "LF-AmazonTitles-1.3M",
    1_305_265,
    0.6,
    2.6,
    True,
    None,
    notes="BoW dimension 128,000 is recalled, not verified.",
)
_xc(
    "WikiSeeAlsoTitles-350K",
    352_072,
    0.55,
    1.5,
    False,
    91_414,
    "WikiSeeAlsoTItles-350K",
    notes="Some downloads unpack to the misspelt folder 'WikiSeeAlsoTItles-350K' (napkinXC's table notes it).",
)
_xc(
    "WikiTitles-500K",
    501_070,
    0.5,
    0.4,
    False,
    185_479,
    notes="LightDXML's configs put A/B = 0.6/2.6 here; that looks like a copy error and is not followed.",
)
_xc("AmazonTitles-670K", 670_091, 0.6, 2.6, False, 66_666)
_xc("AmazonTitles-3M", 2_812_281, 0.6, 2.6, False, 165_431)


def _bow(name: str, labels: int, features: int, citation: str) -> None:
    spec = DatasetSpec(
        name=name,
        aliases=(name.lower(),),
        num_labels=labels,
        layout="combined",
        text_field="",
        bow_dim=features,
        folder_names=(name,),
        download=(
            f"Download '{name}' (BoW, combined format: train.txt, test.txt) from the Extreme Classification "
            f"Repository, {XC_REPOSITORY}, into <data-dir>/{name}/."
        ),
        citation=citation,
        notes="Bag-of-words only (no raw text): for readers, metrics and BoW baselines, not text encoders.",
    )
    dataset_registry.register(name, spec, aliases=spec.aliases)


_bow(
    "Bibtex",
    159,
    1836,
    "I. Katakis, G. Tsoumakas, I. Vlahavas. Multilabel Text Classification for Automated Tag Suggestion. "
    "ECML/PKDD 2008 Discovery Challenge.",
)
_bow(
    "Delicious",
    983,
    500,
    "G. Tsoumakas, I. Katakis, I. Vlahavas. Effective and Efficient Multilabel Classification in Domains "
    "with Large Number of Labels. ECML/PKDD 2008 Workshop on Mining Multidimensional Data (MMD'08).",
)

dataset_registry.register(
    "wordnet-nouns",
    DatasetSpec(
        name="wordnet-nouns",
        aliases=("wordnet",),
        num_labels=None,  # whatever the built files say; the builder decides the label set
        lf=True,
        text_field="title",
        # No filter files: the hierarchy is acyclic, so no self or reciprocal pair is ever a true label
        # (docs/datasets/wordnet-nouns.md explains what that means for predictions).
        filter_test=None,
        filter_train=None,
        folder_names=("wordnet-nouns",),
        download="Shipped with the harness; rebuild with `harness data build wordnet-nouns`.",
        citation="G. A. Miller. WordNet: A Lexical Database for English. Communications of the ACM 38(11), 1995.",
        embedded=True,
        notes="A=0.55, B=1.5: not fitted to this data; the XC 'other' default.",
    ),
    aliases=("wordnet",),
)
