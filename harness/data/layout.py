"""Recognise an XC-repository folder layout and load it, by registered name or by path, into an XMCDataset.

Usage::

    from harness.data.layout import detect_layout, load_dataset
    detect_layout("~/xc/LF-AmazonTitles-131K")            # "json"
    ds = load_dataset("LF-AmazonTitles-131K", data_dir="~/xc")
    ds = load_dataset("/data/my-own-set", A=0.6, B=2.6)   # any layout; A/B default 0.55/1.5
    ds = load_dataset("wordnet-nouns")                    # embedded, checksum-verified
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from harness.data import formats as fmt
from harness.data.catalog import DEFAULT_A, DEFAULT_B, DatasetSpec, dataset_registry
from harness.data.dataset import SplitData, XMCDataset
from harness.errors import DataFormatError, HarnessError
from harness.registry import did_you_mean

log = logging.getLogger(__name__)

#: The file ``harness data synth`` puts in a rehearsal folder (harness.data.rehearsal.MARKER); not hashed.
REHEARSAL_MARKER = "rehearsal.json"
_JSON = {s: (f"{s}.json", f"{s}.raw.json") for s in ("trn", "tst", "lbl")}
_LIGHTXML = ("train_raw_texts.txt", "test_raw_texts.txt", "train_labels.txt", "test_labels.txt")
#: Every file name the harness recognises; each present one is hashed into the dataset identity.
KNOWN_FILES = (
    *(n for names in _JSON.values() for n in names),
    "trn_X_Y.txt", "tst_X_Y.txt", "trn_X_Xf.txt", "tst_X_Xf.txt", "Yf.txt",
    "train.txt", "test.txt", "features.txt", "labels.txt",
    *_LIGHTXML, "trn_X.txt", "tst_X.txt", "raw/trn_X.txt", "raw/tst_X.txt",
    "filter_labels_test.txt", "filter_labels_train.txt",
)  # fmt: skip

LAYOUTS = {
    "json": "trn.json.gz + tst.json.gz (or .json, or trn.raw.json.gz mirrors) [+ lbl.json.gz, "
    "trn_X_Y.txt/tst_X_Y.txt labels, filter_labels_*.txt]",
    "rawtext": "train_raw_texts.txt + test_raw_texts.txt + train_labels.txt + test_labels.txt (LightXML), "
    "or trn_X.txt + tst_X.txt (also under raw/) + trn_X_Y.txt + tst_X_Y.txt",
    "sparse": "trn_X_Y.txt + tst_X_Y.txt [+ trn_X_Xf.txt/tst_X_Xf.txt BoW features]",
    "combined": "train.txt + test.txt [+ features.txt, labels.txt]",
}


def _find(root: Path, *names: str) -> Path | None:
    """The first of ``names`` (or its ``.gz``) present in ``root``.

    Raises:
        HarnessError: both ``name`` and ``name.gz`` exist: which one is current cannot be told, so neither
            is picked silently.
    """
    for name in names:
        found = [cand for cand in (root / name, root / f"{name}.gz") if cand.is_file()]
        if len(found) == 2:
            raise HarnessError(
                f"{root}: both {name} and {name}.gz exist; keep only the one that is current "
                "(the harness does not guess which to read)"
            )
        if found:
            return found[0]
    return None


def _need(root: Path, *names: str) -> Path:
    """Like :func:`_find` for a file the detected layout guarantees; a race (file removed) is still clear."""
    path = _find(root, *names)
    if path is None:
        raise HarnessError(f"{root}: missing {' or '.join(names)}")
    return path


def _raw_texts(root: Path, split: str) -> Path | None:
    return _find(root, f"{split}_X.txt", f"raw/{split}_X.txt")


def detect_layout(root: str | Path) -> str:
    """Name the layout of a dataset folder: ``"json"``, ``"rawtext"``, ``"sparse"`` or ``"combined"``.

    Raw text wins over BoW-only layouts because text encoders need it; a folder holding both JSON and
    ``trn_X_Y.txt`` is "json" (labels then come from the sparse files, as InceptionXML reads them).

    Raises:
        HarnessError: no layout matches; the message lists the files found and what each layout needs.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise HarnessError(f"{root}: not a folder")
    if _find(root, *_JSON["trn"]) and _find(root, *_JSON["tst"]):
        return "json"
    has_y = _find(root, "trn_X_Y.txt") and _find(root, "tst_X_Y.txt")
    if all(_find(root, n) for n in _LIGHTXML) or (has_y and _raw_texts(root, "trn") and _raw_texts(root, "tst")):
        return "rawtext"
    if has_y:
        return "sparse"
    if _find(root, "train.txt") and _find(root, "test.txt"):
        return "combined"
    # top level only: the folder may be a big parent directory pointed at by mistake
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    shown = ", ".join(found[:20]) + (f", ... ({len(found)} entries)" if len(found) > 20 else "") or "nothing"
    expected = "; ".join(f"{k}: {v}" for k, v in LAYOUTS.items())
    raise HarnessError(f"{root}: no XMC dataset layout recognised. Found: {shown}. Expected one of: {expected}")


def resolve(name_or_path: str | Path, data_dir: str | Path | None = None) -> tuple[Path, DatasetSpec | None]:
    """Find the folder of a registered dataset (or take a path as given) and its spec, if any."""
    text = str(name_or_path)
    looks_like_path = isinstance(name_or_path, Path) or any(c in text for c in "/\\") or text[:1] in ".~"
    if looks_like_path or text not in dataset_registry:
        root = Path(text).expanduser()
        if root.is_dir():
            embedded = _embedded_spec_for_folder(root)
            if embedded is not None:  # the shipped folder itself, given by path: the registered dataset
                return resolve(embedded.name)
            return root, _spec_for_folder(root)
        known = dataset_registry.names()
        raise HarnessError(
            f"{text!r} is neither a registered dataset nor a folder.{did_you_mean(text, known)}"
            f" Known datasets: {', '.join(known)}"
        )
    spec = dataset_registry.get(text)
    if spec.embedded:
        try:
            from harness.data.embedded import verified_embedded_dir
        except ImportError as exc:
            raise HarnessError(f"{spec.name}: embedded datasets are not available in this install ({exc})") from None
        return Path(verified_embedded_dir(spec.name)), spec
    base_text = data_dir if data_dir is not None else os.environ.get("HARNESS_DATA")
    if not base_text:
        if Path(text).is_dir():
            return Path(text), spec
        raise HarnessError(
            f"{spec.name} is not shipped with the harness and no data folder is set: pass --data-dir DIR or set "
            f"HARNESS_DATA=DIR. {spec.download} Expected layout: {LAYOUTS[spec.layout]}."
        )
    base = Path(base_text).expanduser()
    for folder in spec.folders():
        if (base / folder).is_dir():
            return base / folder, spec
    if base.name in spec.folders() and base.is_dir():  # pointed at the dataset folder itself
        return base, spec
    raise HarnessError(
        f"{spec.name}: no folder {' or '.join(spec.folders())} under {base}. {spec.download} "
        f"Expected layout: {LAYOUTS[spec.layout]}."
    )


def _embedded_spec_for_folder(root: Path) -> DatasetSpec | None:
    """The spec of the embedded dataset whose shipped folder ``root`` is (resolved), else None."""
    name = root.resolve().name
    if name not in dataset_registry:
        return None
    spec = dataset_registry.get(name)
    if not spec.embedded:
        return None
    try:
        from harness.data.embedded import EMBEDDED_ROOT
    except ImportError:
        return None
    return spec if root.resolve() == (EMBEDDED_ROOT / spec.name).resolve() else None


def registered_name_clash(root: Path) -> str | None:
    """The registered dataset a user folder is named after (name or alias, any case), or None.

    A folder that :func:`resolve` adopts as a registered dataset (its exact download folder name, or the
    shipped embedded folder) is that dataset, not a clash.
    """
    name = root.resolve().name
    if name not in dataset_registry or _spec_for_folder(root) is not None or _embedded_spec_for_folder(root):
        return None
    return dataset_registry.canonical(name)


def _spec_for_folder(root: Path) -> DatasetSpec | None:
    # A downloaded XC folder keeps its published name; adopting that spec gives it the right A/B and
    # label-count check, instead of the generic defaults meant for a user's own data.
    for name in dataset_registry:
        spec = dataset_registry.get(name)
        if not spec.embedded and root.resolve().name in spec.folders():
            log.debug("folder %s matches registered dataset %s; using its metadata", root, spec.name)
            return spec
    return None


def load_dataset(
    name_or_path: str | Path,
    data_dir: str | Path | None = None,
    *,
    A: float | None = None,
    B: float | None = None,
    features: bool | None = None,
) -> XMCDataset:
    """Load a registered dataset (from ``data_dir``/``$HARNESS_DATA``, or embedded) or any dataset folder.

    Args:
        name_or_path: a registered name or alias, or a folder in any supported layout.
        data_dir: parent folder of downloaded datasets (default ``$HARNESS_DATA``).
        A, B: override the propensity constants (default: the spec's, else 0.55/1.5).
        features: also load BoW features when raw text exists (``None``: only for BoW-only layouts).

    Raises:
        HarnessError: unknown name, missing folder (with download hints) or inconsistent files;
            DataFormatError (a HarnessError) for malformed files.
    """
    root, spec = resolve(name_or_path, data_dir)
    layout = detect_layout(root)
    loader = {"json": _load_json, "rawtext": _load_rawtext, "sparse": _load_sparse, "combined": _load_combined}
    parts = loader[layout](root, spec, features)
    _check_not_empty(root, parts)
    num_labels = parts["train"].Y.shape[1]
    rehearsal = (root / REHEARSAL_MARKER).is_file()
    if rehearsal:
        log.warning("%s: synthetic rehearsal data (%d labels), not the real %s", root, num_labels, root.name)
    elif spec is not None and spec.num_labels is not None and spec.num_labels != num_labels:
        raise HarnessError(
            f"{root}: the files have {num_labels} labels but {spec.name} has {spec.num_labels};"
            " is this the right folder?"
        )
    ds = XMCDataset(
        name=spec.name if spec is not None else root.resolve().name,
        root=root,
        layout=layout,
        num_labels=num_labels,
        A=A if A is not None else (spec.A if spec is not None else DEFAULT_A),
        B=B if B is not None else (spec.B if spec is not None else DEFAULT_B),
        spec=spec,
        rehearsal=rehearsal,
        **parts,
    )
    ds.filter_test = _filters(root, "filter_labels_test.txt", len(ds.test), num_labels)
    ds.filter_train = _filters(root, "filter_labels_train.txt", len(ds.train), num_labels)
    ds.files = {rel: fmt.file_sha256(root / rel) for rel in _present_files(root)}
    return ds


def _check_not_empty(root: Path, parts: dict) -> None:
    """A split with no rows, or a training split with no label at all, is a broken dataset, not a small one."""
    for split, prefixes in (("train", ("trn", "train")), ("test", ("tst", "test"))):
        if len(parts[split]) == 0:
            files = [rel for rel in _present_files(root) if rel.split("/")[-1].startswith(prefixes)]
            empty = [rel for rel in files if (root / rel).stat().st_size == 0]
            named = ", ".join(empty or files) or split
            raise HarnessError(
                f"{root}: the {split} split has no rows ({named}{': 0 bytes' if empty else ''}); "
                "is the download complete?"
            )
    if parts["train"].Y.nnz == 0:
        raise HarnessError(f"{root}: no training point has any label; nothing can be learned or evaluated")


def _present_files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for n in KNOWN_FILES if (p := _find(root, n)) is not None]


def _filters(root: Path, name: str, rows: int, labels: int) -> np.ndarray | None:
    path = _find(root, name)
    return None if path is None else fmt.read_filter_pairs(path, num_rows=rows, num_labels=labels)


def _check_rows(labels: Path, n_labels: int, texts: Path, n_texts: int) -> None:
    if n_labels != n_texts:
        raise DataFormatError(labels, None, f"has {n_labels} rows but {texts} has {n_texts}; the rows must align")


def _label_pair(root: Path) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    trn, tst = _need(root, "trn_X_Y.txt"), _need(root, "tst_X_Y.txt")
    Ytr, Yte = fmt.read_sparse_matrix(trn, binary=True), fmt.read_sparse_matrix(tst, binary=True)
    if Ytr.shape[1] != Yte.shape[1]:
        raise HarnessError(f"{tst} has {Yte.shape[1]} label columns but {trn} has {Ytr.shape[1]}")
    return Ytr, Yte


def _bow(root: Path, load: bool, rows: tuple[int, int]) -> tuple[list[sp.csr_matrix | None], int | None]:
    """BoW features ``trn_X_Xf.txt``/``tst_X_Xf.txt``: loaded when asked, else only their headers checked."""
    paths = [_find(root, "trn_X_Xf.txt"), _find(root, "tst_X_Xf.txt")]
    if paths[0] is None or paths[1] is None:
        return [None, None], None
    # Headers alone give both shapes, so the row and dimension checks cost nothing when X is not loaded.
    Xs = [fmt.read_sparse_matrix(p) if load else None for p in paths]
    shapes = [X.shape if X is not None else fmt.read_sparse_header(p) for X, p in zip(Xs, paths, strict=True)]
    for p, shape, n in zip(paths, shapes, rows, strict=True):
        if shape[0] != n:
            raise DataFormatError(p, None, f"has {shape[0]} rows but the labels have {n}")
    if shapes[0][1] != shapes[1][1]:
        raise HarnessError(f"{paths[1]} has {shapes[1][1]} feature columns but {paths[0]} has {shapes[0][1]}")
    return Xs, shapes[0][1]


def _names(root: Path) -> dict:
    feats, labels = _find(root, "features.txt"), _find(root, "labels.txt")
    return {
        "feature_names": fmt.read_lines(feats) if feats else None,
        "label_texts": fmt.read_lines(labels) if labels else None,
    }


def _load_json(root: Path, spec: DatasetSpec | None, features: bool | None) -> dict:
    field = spec.text_field if spec is not None and spec.text_field else "title"
    paths = {s: _find(root, *_JSON[s]) for s in _JSON}
    trn_json, tst_json = _need(root, *_JSON["trn"]), _need(root, *_JSON["tst"])
    sparse_labels = _find(root, "trn_X_Y.txt") is not None and _find(root, "tst_X_Y.txt") is not None
    recs = [fmt.read_json_lines(p, text_field=field, targets=not sparse_labels) for p in (trn_json, tst_json)]
    # label lines carry uid and title only, whatever field the points' text comes from
    lbl = fmt.read_json_lines(paths["lbl"], targets=False) if paths["lbl"] else None
    if sparse_labels:  # InceptionXML re-reads labels from trn_X_Y.txt, so the rows must align with the JSON
        Ys = list(_label_pair(root))
        for s, Y, rec in zip(("trn", "tst"), Ys, recs, strict=True):
            _check_rows(_need(root, f"{s}_X_Y.txt"), Y.shape[0], rec.path, len(rec))
    else:
        Ys = [r.label_matrix(_json_num_labels(spec, lbl, recs)) for r in recs]
    Xs, dim = _bow(root, bool(features), (Ys[0].shape[0], Ys[1].shape[0]))
    splits = [SplitData(Y, r.texts, X, r.uids) for Y, r, X in zip(Ys, recs, Xs, strict=True)]
    names = _names(root)
    return {
        "train": splits[0],
        "test": splits[1],
        "num_features": dim,
        "label_texts": lbl.texts if lbl is not None else names["label_texts"],
        "feature_names": names["feature_names"],
    }


def _json_num_labels(spec: DatasetSpec | None, lbl: fmt.JsonRecords | None, recs: list[fmt.JsonRecords]) -> int:
    """L for labels read from ``target_ind``: the label file's length, else the spec's, else max id + 1."""
    if lbl is not None:
        return len(lbl)
    if spec is not None and spec.num_labels is not None:
        return spec.num_labels
    top = [int(r.indices.max()) for r in recs if r.indices is not None and r.indices.size]
    return 1 + max(top, default=-1)


def _load_sparse(root: Path, spec: DatasetSpec | None, features: bool | None) -> dict:
    Ytr, Yte = _label_pair(root)
    Xs, dim = _bow(root, features is not False, (Ytr.shape[0], Yte.shape[0]))
    return {"train": SplitData(Ytr, X=Xs[0]), "test": SplitData(Yte, X=Xs[1]), "num_features": dim, **_names(root)}


def _load_combined(root: Path, spec: DatasetSpec | None, features: bool | None) -> dict:
    trn, tst = _need(root, "train.txt"), _need(root, "test.txt")
    (Xtr, Ytr), (Xte, Yte) = fmt.read_combined(trn), fmt.read_combined(tst)
    if (Xtr.shape[1], Ytr.shape[1]) != (Xte.shape[1], Yte.shape[1]):
        raise HarnessError(
            f"{tst} header has {Xte.shape[1]} features / {Yte.shape[1]} labels but {trn} has "
            f"{Xtr.shape[1]} / {Ytr.shape[1]}"
        )
    return {"train": SplitData(Ytr, X=Xtr), "test": SplitData(Yte, X=Xte), "num_features": Xtr.shape[1], **_names(root)}


def _load_rawtext(root: Path, spec: DatasetSpec | None, features: bool | None) -> dict:
    names = _names(root)
    if all(_find(root, n) for n in _LIGHTXML):
        text_paths = [_need(root, n) for n in _LIGHTXML[:2]]
        label_paths = [_need(root, n) for n in _LIGHTXML[2:]]
        texts = [fmt.read_lines(p) for p in text_paths]
        lists = [fmt.read_label_names(p) for p in label_paths]
        for lp, lab, tp, t in zip(label_paths, lists, text_paths, texts, strict=True):
            _check_rows(lp, len(lab), tp, len(t))
        Ys, label_names = label_names_to_csr(lists)
        names["label_texts"] = label_names
        Xs, dim = [None, None], None
    else:
        Ys = list(_label_pair(root))
        tpaths = [_need(root, f"{s}_X.txt", f"raw/{s}_X.txt") for s in ("trn", "tst")]
        texts = [fmt.read_lines(p) for p in tpaths]
        for s, Y, t, tp in zip(("trn", "tst"), Ys, texts, tpaths, strict=True):
            _check_rows(_need(root, f"{s}_X_Y.txt"), Y.shape[0], tp, len(t))
        Xs, dim = _bow(root, bool(features), (Ys[0].shape[0], Ys[1].shape[0]))
    return {
        "train": SplitData(Ys[0], texts[0], Xs[0]),
        "test": SplitData(Ys[1], texts[1], Xs[1]),
        "num_features": dim,
        **names,
    }


def label_names_to_csr(splits: list[list[list[str]]]) -> tuple[list[sp.csr_matrix], list[str]]:
    """Map LightXML label names to ids as LightXML does: over all splits together, sorted as strings.

    Building the map over train ∪ test means a label seen only in test still gets a column (with no
    training point); sorting as strings (so "10" < "9") follows LightXML's label order (methods.md §7.2).
    """
    names = sorted({name for split in splits for row in split for name in row})
    index = {name: i for i, name in enumerate(names)}
    out = []
    for split in splits:
        rows = [sorted({index[n] for n in row}) for row in split]
        indptr = np.cumsum([0, *(len(r) for r in rows)], dtype=np.int64)
        indices = np.fromiter((i for r in rows for i in r), np.int64, count=int(indptr[-1]))
        data = np.ones(indices.size, np.float32)
        out.append(sp.csr_matrix((data, indices, indptr), shape=(len(rows), len(names))))
    return out, names
