"""Same seed, same result, in another process: every registered torch model is trained twice in two fresh Python
processes and must give bit-identical top-k indices and scores.

``test_contract.test_deterministic_under_seed`` fits twice *in one process*, which cannot see what a new process
changes: string hashing (``PYTHONHASHSEED``: the iteration order of sets and dicts of strings), the heap layout
and hence array alignment, lazily initialised library state, and caches on disk. The two processes here differ
in all of those on purpose:

- ``PYTHONHASHSEED`` 1 and 2 (a user's ``harness run`` does not fix it; tox does, which would hide a bug);
- an environment variable of a different length, which shifts the heap and the alignment of later arrays;
- the first process starts with an empty ``$HARNESS_HOME`` and builds the TF-IDF and label-cluster caches, the
  second reads them (a cache written by one process and read by another must not change a bit).

They share what the promise is conditional on (docs/reproducibility.md): the seed, the thread count, the machine
and the library versions. A second test checks that the TF-IDF features behind the label clusters do not depend on
the SIMD level numpy runs at (the CPU kind), which they did before ``harness.features.tfidf`` computed them in
float64. To keep the default run short, one pair of processes fits all the quick models in turn
(importing torch once per process instead of once per model); ``lightxml-minilm`` (a transformer, whose import
alone takes seconds) and the two-thread variant run as ``slow``, one pair of processes per model.

Usage::

    pytest tests/models/test_determinism.py                          # one thread, the quick torch models
    pytest tests/models/test_determinism.py -m slow                  # lightxml-minilm, and two threads
    python -m tests.models.test_determinism OUT_DIR 1 syncxml        # one worker by hand
    python -m tests.models.test_determinism tfidf                    # the TF-IDF fingerprint of this process
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.models import model_registry

ROOT = Path(__file__).resolve().parents[2]

#: Ranks compared per text: more than the metrics' k = 5, so that a change deep in the ranking is seen too.
K = 10

#: Torch models whose fit alone takes many seconds (a transformer): tested under the ``slow`` marker only.
SLOW_MODELS = {"lightxml-minilm"}

#: Written by a worker for the models it could not build (an optional extra is not installed).
SKIPPED_FILE = "skipped.json"


def _uses_torch(name: str) -> bool:
    """Whether the model's class, or a class it inherits from, lives in a module that imports torch."""
    for klass in model_registry.get(name).__mro__:
        module = sys.modules.get(klass.__module__)
        if module is not None and "torch" in vars(module):
            return True
    return False


# Not in a worker process (run as __main__): importing every registered model there would only cost time.
TORCH_MODELS = [name for name in model_registry.names() if _uses_torch(name)] if __name__ != "__main__" else []
QUICK_MODELS = [name for name in TORCH_MODELS if name not in SLOW_MODELS]


def _run_worker(names: list[str], out: Path, threads: int, home: Path, hash_seed: int, pad: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_", "PYTHONHASHSEED"))}
    env.update(
        PYTHONHASHSEED=str(hash_seed),
        HARNESS_HOME=str(home),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        XMC_DETERMINISM_PAD="x" * pad,
    )
    cmd = [sys.executable, "-m", "tests.models.test_determinism", str(out), str(threads), *names]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    if proc.returncode != 0:
        pytest.fail(f"determinism worker for {names} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")


def _train_twice(names: list[str], threads: int, tmp: Path) -> tuple[Path, Path]:
    """Two worker processes, one after the other; the second reads the caches the first wrote."""
    home = tmp / "harness_home"
    first, second = tmp / "first", tmp / "second"
    _run_worker(names, first, threads, home, hash_seed=1, pad=3)
    _run_worker(names, second, threads, home, hash_seed=2, pad=61)
    return first, second


def _assert_identical(name: str, first: Path, second: Path) -> None:
    skipped = json.loads((first / SKIPPED_FILE).read_text(encoding="utf-8"))
    if name in skipped:
        pytest.skip(skipped[name])
    with np.load(first / f"{name}.npz") as a, np.load(second / f"{name}.npz") as b:
        np.testing.assert_array_equal(a["indices"], b["indices"], err_msg=f"{name}: top-k labels differ")
        # Bit-identical, not close: the float32 scores are compared as raw bits (-0.0 and NaN included).
        np.testing.assert_array_equal(
            a["scores"].view(np.uint32), b["scores"].view(np.uint32), err_msg=f"{name}: top-k scores differ"
        )


@pytest.fixture(scope="module")
def quick_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The quick models, each fitted once in each of the two processes (one thread)."""
    return _train_twice(QUICK_MODELS, 1, tmp_path_factory.mktemp("determinism"))


@pytest.mark.parametrize("name", QUICK_MODELS)
def test_two_processes_give_identical_predictions(name: str, quick_pair: tuple[Path, Path]) -> None:
    _assert_identical(name, *quick_pair)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "threads"),
    [*((n, 1) for n in sorted(SLOW_MODELS & set(TORCH_MODELS))), *((n, 2) for n in TORCH_MODELS)],
)
def test_two_processes_give_identical_predictions_slow(name: str, threads: int, tmp_path: Path) -> None:
    _assert_identical(name, *_train_twice([name], threads, tmp_path))


def test_tfidf_bits_do_not_depend_on_numpys_simd_level() -> None:
    """The features behind SyncXML's and LightXML's clusters are the same on a CPU with fewer SIMD features.

    numpy chooses its ``log`` loops at run time by CPU level, and ``NPY_DISABLE_CPU_FEATURES`` makes this CPU run
    the loops of an older one. Three processes: every level this CPU has (e.g. AVX-512), only the lowest dispatch
    level (AVX2 on x86-64, as on many AMD EPYC), and numpy's baseline. A last-bit change of these features moved
    140 of the 17,064 wordnet-nouns labels to other LightXML clusters.
    """
    import numpy

    core = getattr(numpy, "_core", None) or numpy.core
    levels = list(core._multiarray_umath.__cpu_dispatch__)
    prints = set()
    for disabled in ([], levels[1:], levels):
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(disabled)}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        cmd = [sys.executable, "-m", "tests.models.test_determinism", "tfidf"]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)  # noqa: S603
        prints.add(proc.stdout.strip())
    assert len(prints) == 1, f"TF-IDF bits differ between numpy SIMD levels {levels}: {prints}"


def _tfidf_fingerprint() -> str:
    """sha256 of the TF-IDF matrix of texts that repeat words up to ~10 times (the sublinear tf path: numpy's float32
    ``log(7)`` differs between its AVX2 and baseline loops) over ~900 uni- and bigrams (as many idf values)."""
    import hashlib

    from harness.features import TfidfConfig, tfidf_train_features

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(5, 80)))) for _ in range(2000)]
    _, X = tfidf_train_features(texts, TfidfConfig(min_df=1), cache=False)
    h = hashlib.sha256()
    for arr in (X.indptr, X.indices, X.data):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def test_the_torch_models_are_found() -> None:
    """The selection must not silently become empty: it is what the tests above cover."""
    assert {"inceptionxml", "syncxml", "lightxml"} <= set(QUICK_MODELS)


def _worker(out: Path, threads: int, names: list[str]) -> None:
    """Fit each model at its tiny config with seed 0 on the synthetic data; save its top-k on val + test."""
    import torch

    torch.set_num_threads(threads)
    from harness.errors import OptionalDependencyError
    from harness.models.contract import FitContext
    from tests.models.synthetic import NUM_LABELS, make_synthetic
    from tests.models.test_contract import tiny_overrides

    out.mkdir(parents=True, exist_ok=True)
    train, val, test = make_synthetic()
    skipped: dict[str, str] = {}
    for name in names:
        try:
            model = model_registry.get(name)(**tiny_overrides(name))
            model.fit(train, val, ctx=FitContext(seed=0, num_labels=NUM_LABELS, device="cpu"))
        except OptionalDependencyError as exc:  # e.g. lightxml-minilm without its package
            skipped[name] = str(exc)
            continue
        top = model.predict_topk([*val.texts, *test.texts], K)
        np.savez(out / f"{name}.npz", indices=top.indices, scores=np.asarray(top.scores, dtype=np.float32))
    (out / SKIPPED_FILE).write_text(json.dumps(skipped), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["tfidf"]:
        sys.stdout.write(_tfidf_fingerprint() + "\n")
    else:
        _worker(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
