"""Benchmark: one training step of each neural model on CPU, before and after, side by side in one run.

Usage::

    python benchmarks/bench_train_step.py                                   # baseline 5ee7807 vs the working tree
    python benchmarks/bench_train_step.py --threads 1 --models inceptionxml --steps 40
    python benchmarks/bench_train_step.py --baseline-dir /tmp/base          # a checkout made beforehand
    python benchmarks/bench_train_step.py --variants after --no-profile     # the working tree alone, quickly

**What is timed.** One optimiser step exactly as ``inceptionxml.train.fit_loop`` runs it, with the per-batch
data preparation of the models' ``loss_fn``: the batch's token ids copied out of the training matrix, the CSR
label rows sliced (``y_train[idx]``) and turned into targets (dense multi-hot for ``inceptionxml``, positive
pairs for the shortlist models), forward, loss, ``float(loss)``, ``zero_grad(set_to_none=True)``, backward, every
optimiser's ``step`` and the OneCycle scheduler's. Settings are the main job's (harness/suites/offline.yaml):
wordnet-nouns' fit split (45,262 titles, 17,064 labels, 47,418 vocabulary rows with the default cleaning), D = 50
(random values of GloVe's shape: what a step costs does not depend on them), F = 64, batch 256, lr 0.02;
``syncxml`` with 80 of its 2,048 graph-PIFA clusters (720 candidates) and the encoder *not* detached (its epochs
2-3; epoch 1 skips the encoder's share of the extreme backward), ``lightxml`` with 10 of its 256 PIFA clusters
(670) and missed positives appended. The clusters are built once by the working tree's ``harness.clustering``
(cached) and given to every variant, and the shortlist models start from the state one epoch of training leaves
(``--warm-steps``, see ``warm_state``), so all variants train on the same batches from the same weights. Every
step runs under ``seed_everything`` (deterministic kernels, no NaN fill), as ``fit`` does.

**Variants**, each in its own worker process (``--worker``):

* ``before``: the baseline commit's code (``--baseline``, a ``git worktree`` made in ``--baseline-dir`` if it is
  not there) with its adapters' recipe: ``multi_hot`` + ``binary_cross_entropy_with_logits`` for one-vs-all,
  ``positive_pairs(y_train[idx])`` for the shortlist models, ``torch.optim.Adam`` with default settings (two Adams,
  tables and the rest, for the shortlist models, as ``InceptionShortlistModel._optimizers``).
* ``modules``: the working tree's modules with the same (baseline) recipe: what the changes to the network code
  alone buy, before the adapters and the loop adopt anything.
* ``after``: the working tree with the proposed recipe (``proposed_loss``, ``proposed_adam_kwargs``): the
  one-line changes to ``inceptionxml/model.py`` and the optimiser constructions that docs/profiling.md lists.
* ``before-passive``, ``after-passive``: ``before`` and ``after`` with ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP's idle
  threads sleep instead of spinning), at more than one thread only (one thread has no idle OpenMP threads).

The workers of one (model, threads) are started together and stepped in lockstep: step i of every variant runs
back to back, in an order rotated each step, so the load of the machine's other users (it is shared) hits every
variant alike, and the ratios compare steps taken seconds apart.

**Figures.** Step time: the median and minimum over ``--steps`` timed steps (after ``--warmup`` untimed ones).
FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` over forward + backward of one step (2 FLOPs per
multiply-accumulate; matrix products and convolutions only, element-wise work counts 0; the optimiser is not
counted), on each variant's own code, so a variant that does more products (the union GEMM of the baseline's
shortlist models) shows it. GEMM peak: the best GFLOP/s of a 2048³ fp32 ``torch.mm`` at the same thread count,
measured twice in every worker; the table uses the best over the run. Where the time goes: ``torch.profiler``
self CPU time of ``--profile-steps`` steps, each op attributed to a phase: record-function ranges around the data
preparation, the targets, the loss and the optimiser, forward hooks on the encoder and head modules, and wrappers
around the shortlist helpers; a backward op goes to the phase of the forward op that created it (autograd
sequence numbers). ``other`` is the rest (the autograd engine, Python).

Results: ``results/benchmarks/train_step.json`` (every step time, every setting, the machine) and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # runnable from a checkout without installing
    sys.path.insert(0, str(REPO))

MODELS = ("inceptionxml", "syncxml", "lightxml")
SHORTLIST = ("syncxml", "lightxml")
VARIANTS = ("before", "modules", "after", "before-passive", "after-passive")
#: variant → (code tree, recipe, extra environment); "base" is the baseline checkout, "work" this working tree.
VARIANT_SPECS = {
    "before": ("base", "baseline", {}),
    "modules": ("work", "baseline", {}),
    "after": ("work", "proposed", {}),
    "before-passive": ("base", "baseline", {"OMP_WAIT_POLICY": "PASSIVE"}),
    "after-passive": ("work", "proposed", {"OMP_WAIT_POLICY": "PASSIVE"}),
}
BASELINE = "5ee7807"
BATCH = 256
EMBEDDING_DIM = 50
LR = 0.02
#: The main job's settings (harness/suites/offline.yaml) that shape a step; epochs only size the schedule.
SUITE = {
    "inceptionxml": {
        "embeddings": "random",
        "embedding_dim": EMBEDDING_DIM,
        "lr": LR,
        "batch_size": BATCH,
        "epochs": 5,
    },
    "syncxml": {
        "embeddings": "random",
        "embedding_dim": EMBEDDING_DIM,
        "lr": LR,
        "batch_size": BATCH,
        "epochs": 3,
        "meta_epoch": 1,
        "top_k_clusters": 80,
    },
    "lightxml": {
        "embeddings": "random",
        "embedding_dim": EMBEDDING_DIM,
        "lr": LR,
        "batch_size": BATCH,
        "epochs": 3,
        "top_k_clusters": 10,
    },
}
PHASES = ("data", "targets", "encoder", "head", "shortlist", "loss", "optimizer", "other")


# ---------------------------------------------------------------------------------------------------------------
# data shared by every variant (built once by the driver with the working tree's code)
# ---------------------------------------------------------------------------------------------------------------
def prepare_data(path: Path, models: list[str]) -> dict[str, Any]:
    """Token ids and label rows of wordnet-nouns' fit split, plus each shortlist model's clusters, into ``path``."""
    import numpy as np

    from harness.clustering import build_label_clusters
    from harness.data import load_dataset
    from harness.data.splits import carve_validation
    from inceptionxml.config import InceptionXMLConfig
    from inceptionxml.text import Vocabulary, clean_texts

    ds = load_dataset("wordnet-nouns")
    fit, _ = carve_validation(len(ds.train), seed=0, fraction=0.1)
    texts = [ds.train.texts[i] for i in fit]
    y = ds.train.Y.tocsr()[fit]
    cfg = InceptionXMLConfig(**SUITE["inceptionxml"])
    tokens = clean_texts(texts, cfg.stopwords)
    vocab = Vocabulary.build(tokens, cfg.vocab_size, cfg.vocab_min_count)
    arrays: dict[str, Any] = {
        "ids": vocab.encode(tokens, cfg.seq_len),
        "y_indptr": y.indptr,
        "y_indices": y.indices,
        "y_shape": np.array(y.shape),
        "vocab_size": np.array(len(vocab)),
    }
    info: dict[str, Any] = {"n_train": int(y.shape[0]), "num_labels": int(y.shape[1]), "vocab_rows": len(vocab)}
    info["labels_per_row"] = float(y.nnz / y.shape[0])
    for name in [m for m in models if m in SHORTLIST]:
        clusters = build_label_clusters(y, texts=texts, config=shortlist_config(name, {}).cluster_config())
        arrays[f"{name}_members"] = clusters.members
        arrays[f"{name}_label_cluster"] = clusters.label_cluster
        info[f"{name}_clusters"] = list(clusters.members.shape)
    np.savez(path, **arrays)
    return info


def shortlist_config(name: str, extra: dict[str, Any]) -> Any:
    """The model's config class at the suite's settings (imported from whichever tree is on ``sys.path``)."""
    if name == "syncxml":
        from inceptionxml.syncxml import SyncXMLConfig as Config
    else:
        from inceptionxml.lightxml import LightXMLConfig as Config
    return Config(**{**SUITE[name], **extra})


# ---------------------------------------------------------------------------------------------------------------
# one cell: one variant of one model at one thread count, in a fresh process whose sys.path starts at its tree
# ---------------------------------------------------------------------------------------------------------------
def gemm_peak(threads: int, n: int = 2048, reps: int = 5) -> float:
    """Best GFLOP/s of an n×n×n fp32 matrix product at the current thread count (2 FLOPs per MAC)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(reps))
    return 2 * n**3 / best / 1e9


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Step:
    """One model's training step at the suite's settings: network, optimisers, scheduler and the batch recipe."""

    def __init__(self, model: str, recipe: str, data: dict[str, Any], seed: int = 0) -> None:
        import numpy as np
        import scipy.sparse as sp
        import torch

        self.model, self.recipe = model, recipe
        self.x = torch.from_numpy(np.asarray(data["ids"], dtype=np.int64))
        n, num_labels = (int(v) for v in data["y_shape"])
        ones = np.ones(len(data["y_indices"]), dtype=np.float32)
        self.y = sp.csr_matrix((ones, data["y_indices"], data["y_indptr"]), shape=(n, num_labels))
        self.num_labels = num_labels
        rng = np.random.default_rng(seed)
        emb = rng.uniform(-0.25, 0.25, (int(data["vocab_size"]), EMBEDDING_DIM)).astype(np.float32)
        emb[0] = 0.0  # PAD
        self.order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        self.batch_no = 0
        if model == "inceptionxml":
            from inceptionxml.config import InceptionXMLConfig
            from inceptionxml.model import InceptionXMLNet

            self.cfg = InceptionXMLConfig(**SUITE[model])
            self.net = InceptionXMLNet(self.cfg, emb, num_labels)
            self.encoder_modules = [self.net.embedding, self.net.encoder]
            self.head_modules = [self.net.head]
            groups = [list(self.net.parameters())]
        else:
            from inceptionxml.shortlist import ClusterIndex
            from inceptionxml.shortlist_net import HeadSettings, InceptionTextEncoder, ShortlistNet

            cfg = self.cfg = shortlist_config(model, {})
            text = InceptionTextEncoder(cfg, emb, sparse=cfg.sparse)
            heads = HeadSettings(
                kind="sync" if model == "syncxml" else "lightxml",
                hidden_dims=cfg.hidden_dims,
                hidden_dropout=cfg.hidden_dropout,
                meta_dropout=cfg.meta_dropout,
                ext_dropout=getattr(cfg, "ext_dropout", 0.0),
                feature_dropout=cfg.feature_dropout,
                bottleneck_dim=cfg.bottleneck_dim,
            )
            index = ClusterIndex(data[f"{model}_members"], data[f"{model}_label_cluster"])
            self.net = ShortlistNet(
                text, num_labels, index, heads, top_k=cfg.top_k_clusters, score=cfg.score, sparse=cfg.sparse
            )
            self.encoder_modules = [self.net.text]
            self.head_modules = [self.net.meta_head, self.net.extreme_head, self.net.label_embedding]
            tables = [self.net.text.embedding.weight, self.net.label_embedding.table.weight]
            ids = {id(p) for p in tables}
            groups = [[p for p in self.net.parameters() if id(p) not in ids], tables]
        self.net.train()
        self.opts = [self._adam(g) for g in groups]
        steps = max(1, -(-n // BATCH)) * self.cfg.epochs
        self.scheds = [
            torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=LR, total_steps=steps, pct_start=self.cfg.pct_start, div_factor=10.0
            )
            for opt in self.opts
        ]

    def _adam(self, params: list[Any]) -> Any:
        import torch

        if self.recipe == "proposed":
            return torch.optim.Adam(params, lr=LR, weight_decay=0.0, **proposed_adam_kwargs())
        return torch.optim.Adam(params, lr=LR, weight_decay=0.0)

    def next_idx(self) -> Any:
        lo = (self.batch_no * BATCH) % (self.order.numel() - BATCH)
        self.batch_no += 1
        return self.order[lo : lo + BATCH]

    def loss(self, idx: Any) -> Any:
        """The model's ``loss_fn(net, idx, epoch)`` (baseline recipe: the adapters at the baseline commit)."""
        import torch.nn.functional as F
        from torch.profiler import record_function

        if self.recipe == "proposed":
            return proposed_loss(self, idx)
        if self.model == "inceptionxml":
            from inceptionxml.heads import multi_hot

            with record_function("bench/data"):
                ids = self.x[idx]
            logits = self.net(ids)
            with record_function("bench/targets"):
                target = multi_hot(self.y[idx.numpy()], self.num_labels, "cpu")
            with record_function("bench/loss"):
                return F.binary_cross_entropy_with_logits(logits.float(), target)
        return shortlist_loss(self, idx)

    def __call__(self) -> float:
        """One step of ``fit_loop``: loss, NaN check value, zero_grad, backward, optimiser and scheduler steps."""
        from torch.profiler import record_function

        idx = self.next_idx()
        loss = self.loss(idx)
        value = float(loss.detach())
        with record_function("bench/optimizer"):
            for opt in self.opts:
                opt.zero_grad(set_to_none=True)
        loss.backward()
        with record_function("bench/optimizer"):
            for opt in self.opts:
                opt.step()
            for sched in self.scheds:
                sched.step()
        return value


# --- the proposed recipe: what the adapters and the loop would do after the one-line changes ------------------
def proposed_adam_kwargs() -> dict[str, Any]:
    """The proposed optimiser construction: ``torch.optim.Adam(..., fused=True)``.

    The same update rule in one vectorised pass per tensor, instead of the default single-tensor loop's seven
    (lerp, mul, addcmul, sqrt, div, add, addcdiv), each over the whole 17K × H label table; equal to the default
    to the last bit of float rounding (a test checks).
    """
    return {"fused": True}


def proposed_loss(step: Step, idx: Any) -> Any:
    """The models' ``loss_fn`` after the proposed adapter changes."""
    from torch.profiler import record_function

    from inceptionxml.shortlist import positive_pairs

    if step.model == "inceptionxml":
        from inceptionxml.heads import bce_with_logits_positives

        with record_function("bench/data"):
            ids = step.x[idx]
        logits = step.net(ids)
        with record_function("bench/targets"):
            rows, labels = positive_pairs(step.y[idx.numpy()], "cpu")
        with record_function("bench/loss"):
            return bce_with_logits_positives(logits, rows, labels)

    return shortlist_loss(step, idx)


def shortlist_loss(step: Step, idx: Any) -> Any:
    """A shortlist model's ``loss_fn`` (the same in both recipes): positive pairs, then the net's summed loss."""
    from torch.profiler import record_function

    from inceptionxml.shortlist import positive_pairs

    with record_function("bench/data"):
        rows, labels = positive_pairs(step.y[idx.numpy()], "cpu")
        ids = step.x[idx]
    cfg = step.cfg
    return step.net.loss(
        ids,
        rows,
        labels,
        top_k=cfg.top_k_clusters,
        detach_ext=False,
        meta_scale=cfg.meta_scale,
        add_missing_positives=cfg.missing_positives,
    )


# --- attribution of profiled time to phases ------------------------------------------------------------------------
class PhaseHooks:
    """Forward hooks that open a ``bench/<phase>`` record-function range around the encoder and head modules,
    and wrappers that do the same around the shortlist helpers ``ShortlistNet.loss`` calls."""

    SHORTLIST_FNS = {
        "cluster_targets": "targets",
        "candidate_targets": "targets",
        "top_clusters": "shortlist",
        "expand_candidates": "shortlist",
        "append_missing_positives": "shortlist",
    }

    def __init__(self, step: Step) -> None:
        self.handles: list[Any] = []
        self.patched: list[tuple[Any, str, Any]] = []
        for phase, modules in (("encoder", step.encoder_modules), ("head", step.head_modules)):
            for module in modules:
                self._hook(module, phase)
        if step.model in SHORTLIST:
            import torch.nn.functional as F

            import inceptionxml.shortlist_net as sn

            for name, phase in self.SHORTLIST_FNS.items():
                if hasattr(sn, name):
                    self._wrap(sn, name, phase)
            self._wrap(F, "binary_cross_entropy_with_logits", "loss")

    def _hook(self, module: Any, phase: str) -> None:
        from torch.profiler import record_function

        stack: list[Any] = []

        def pre(_m: Any, _args: Any) -> None:
            rf = record_function(f"bench/{phase}")
            rf.__enter__()
            stack.append(rf)

        def post(_m: Any, _args: Any, _out: Any) -> None:
            stack.pop().__exit__(None, None, None)

        self.handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]

    def _wrap(self, owner: Any, name: str, phase: str) -> None:
        from torch.profiler import record_function

        fn = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with record_function(f"bench/{phase}"):
                return fn(*args, **kwargs)

        setattr(owner, name, wrapped)
        self.patched.append((owner, name, fn))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        for owner, name, fn in self.patched:
            setattr(owner, name, fn)


def attribute(events: Any, steps: int) -> dict[str, Any]:
    """Self CPU time per phase (ms per step) and the top ops of each, from the profiler's event list."""
    fwd_phase: dict[int, str] = {}
    phase_of: dict[int, str] = {}

    def phase(ev: Any) -> str:
        key = id(ev)
        if key in phase_of:
            return phase_of[key]
        if ev.name.startswith("bench/"):
            out = ev.name[len("bench/") :]
        elif ev.name.startswith("autograd::engine::evaluate_function"):
            out = fwd_phase.get(ev.sequence_nr, "other")
        elif ev.cpu_parent is not None:
            out = phase(ev.cpu_parent)
        else:
            out = "other"
        phase_of[key] = out
        return out

    ordered = sorted(events, key=lambda e: e.time_range.start)
    # An op records the sequence number autograd will give the *next* node it creates, so every grad-free op
    # before a node shares that node's number; the node's own op is the last of them (its children inherit
    # its phase), hence the last forward op of each number decides.
    for ev in ordered:
        if ev.sequence_nr >= 0 and not _in_backward(ev):
            fwd_phase[ev.sequence_nr] = phase(ev)
    total: dict[str, float] = dict.fromkeys(PHASES, 0.0)
    ops: dict[str, dict[str, float]] = {p: {} for p in PHASES}
    for ev in ordered:
        if ev.name.startswith("bench/"):
            continue
        p = phase(ev)
        p = p if p in total else "other"
        us = float(ev.self_cpu_time_total)
        total[p] += us
        bwd = _in_backward(ev)
        name = ev.name + (" (bwd)" if bwd and not ev.name.startswith("autograd::") else "")
        ops[p][name] = ops[p].get(name, 0.0) + us
    return {
        "ms_per_step": {p: total[p] / 1000.0 / steps for p in PHASES},
        "top_ops": {
            p: [[n, round(us / 1000.0 / steps, 3)] for n, us in sorted(ops[p].items(), key=lambda kv: -kv[1])[:6]]
            for p in PHASES
        },
    }


def _in_backward(ev: Any) -> bool:
    while ev is not None:
        if ev.name.startswith("autograd::engine::evaluate_function"):
            return True
        ev = ev.cpu_parent
    return False


def warm_state(model: str, data_path: Path, steps: int, out: Path) -> None:
    """Train ``model`` for ``steps`` steps with the working tree's code and save its state dict to ``out``.

    A shortlist model's step cost depends on its shortlist: at initialisation every query's top clusters are
    nearly random, so the batch's distinct candidates are almost all labels; after an epoch a few popular clusters
    are chosen by most queries (syncxml: ~4,500 distinct candidates, lightxml: ~13,000, on wordnet-nouns). Every
    variant loads this state (the parameter names are the same in every tree), so they all time the same regime.
    """
    import numpy as np
    import torch

    from inceptionxml.train import seed_everything

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with seed_everything(0):
            step = Step(model, "proposed", dict(np.load(data_path)))
            for _ in range(steps):
                step()
        torch.save(step.net.state_dict(), out)
    finally:
        torch.set_num_threads(threads)


def worker_main(spec_json: str) -> int:
    """``--worker`` entry point: build one variant's step, then obey one JSON command per stdin line.

    Replies are stdout lines starting with ``@@``; anything else printed goes to stderr. Commands: ``gemm``
    (GEMM GFLOP/s), ``step`` (time one step), ``flops`` (count one step's forward + backward), ``profile``
    (``n`` profiled steps, attributed to phases), ``quit``. The process keeps ``seed_everything``'s
    deterministic mode on for its whole life, as ``fit`` does for a whole training run.
    """
    spec = json.loads(spec_json)
    out, sys.stdout = sys.stdout, sys.stderr

    def reply(obj: dict[str, Any]) -> None:
        out.write("@@" + json.dumps(obj) + "\n")
        out.flush()

    sys.path.insert(0, spec["tree"])
    for name in [m for m in sys.modules if m.split(".")[0] in ("inceptionxml", "baselines", "harness")]:
        del sys.modules[name]
    try:
        import numpy as np
        import torch

        threads = int(spec["threads"])
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        import inceptionxml
        from inceptionxml.train import seed_everything

        origin = str(Path(inceptionxml.__file__).resolve().parent)
        if not origin.startswith(str(Path(spec["tree"]).resolve())):
            raise RuntimeError(f"imported {origin}, not the variant's tree {spec['tree']}")
        seeded = seed_everything(0)
        seeded.__enter__()
        t0 = time.perf_counter()
        step = Step(spec["model"], spec["recipe"], dict(np.load(spec["data"])))
        if spec.get("state"):
            step.net.load_state_dict(torch.load(spec["state"], weights_only=True))
        build_s = time.perf_counter() - t0
        for _ in range(spec["warmup"]):
            step()
        reply({"ready": True, "build_s": build_s, "inceptionxml_from": origin, "threads": torch.get_num_threads()})
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["cmd"] == "quit":
                break
            if cmd["cmd"] == "gemm":
                reply({"gemm_gflops": gemm_peak(threads)})
            elif cmd["cmd"] == "step":
                t0 = time.perf_counter()
                step()
                reply({"ms": 1000.0 * (time.perf_counter() - t0)})
            elif cmd["cmd"] == "flops":
                reply(count_flops(step))
            elif cmd["cmd"] == "profile":
                reply({"profile": profile_steps(step, int(cmd["n"]))})
    except BaseException as exc:  # the driver records it; a Ctrl-C still ends the run
        reply({"error": f"{type(exc).__name__}: {exc}"[:2000], "traceback": traceback.format_exc()[-4000:]})
        if isinstance(exc, KeyboardInterrupt):
            raise
        return 1
    return 0


def count_flops(step: Step) -> dict[str, Any]:
    """FlopCounterMode over one step's forward and backward (2 FLOPs per multiply-accumulate).

    FlopCounterMode has no formula for the in-place ``addmm_`` (the channels-last encoder's backward adds the
    narrower inception branches' input gradients in place); it is given ``addmm``'s.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def addmm_inplace(_self: Any, mat1: Any, mat2: Any, *_args: Any, out_shape: Any = None, **_kw: Any) -> int:
        return 2 * mat1[0] * mat1[1] * mat2[1]

    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: addmm_inplace})
    with counter:
        step.loss(step.next_idx()).backward()
    for opt in step.opts:
        opt.zero_grad(set_to_none=True)
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return {"flops": int(counter.get_total_flops()), "flops_by_op": by_op}


def profile_steps(step: Step, n: int) -> dict[str, Any]:
    """``n`` steps under ``torch.profiler`` with the phase hooks; self CPU time per phase and its top ops."""
    from torch.profiler import ProfilerActivity, profile

    hooks = PhaseHooks(step)
    try:
        step()  # the hooks' first call
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            wall = time.perf_counter() - t0
    finally:
        hooks.remove()
    return {**attribute(prof.events(), n), "wall_ms_per_step": 1000.0 * wall / n}


class Worker:
    """The driver's handle on one ``--worker`` process: send a command, wait for its ``@@`` reply."""

    def __init__(self, spec: dict[str, Any], log: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "PYTHONHASHSEED": "0", **spec["env"]}
        self.log = log
        with log.open("w") as err:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=spec["tree"]
            )
        self.buf = b""

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + timeout
        while True:
            while b"\n" not in self.buf:
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise TimeoutError(f"no reply within {timeout:.0f} s")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"worker exited ({self.proc.poll()}): {tail}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            if line.startswith(b"@@"):
                reply = json.loads(line[2:])
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply

    def ask(self, cmd: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()
        return self.read(timeout)

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


def run_group(specs: dict[str, dict[str, Any]], args: argparse.Namespace, logdir: Path) -> dict[str, dict[str, Any]]:
    """One (model, threads): a worker per variant, started together, then stepped in lockstep.

    Step i of every variant runs back to back (in an order rotated each step), so a neighbour's load that comes
    and goes over seconds or minutes hits every variant alike: the ratios compare steps taken seconds apart.
    """
    records: dict[str, dict[str, Any]] = {v: {"step_ms": [], "gemm_gflops": []} for v in specs}
    workers: dict[str, Worker] = {}
    try:
        for v, spec in specs.items():
            workers[v] = Worker(spec, logdir / f"{spec['model']}-{spec['threads']}-{v}.log")
        for v, w in workers.items():
            try:
                records[v].update(w.read(args.cell_timeout))
            except Exception as exc:
                records[v]["error"] = str(exc)
        live = [v for v in specs if "error" not in records[v]]
        for v in live:
            records[v]["gemm_gflops"].append(workers[v].ask({"cmd": "gemm"}, args.cell_timeout)["gemm_gflops"])
        for i in range(args.steps):
            for v in live[i % len(live) :] + live[: i % len(live)]:
                records[v]["step_ms"].append(workers[v].ask({"cmd": "step"}, args.cell_timeout)["ms"])
        for v in live:
            records[v]["gemm_gflops"].append(workers[v].ask({"cmd": "gemm"}, args.cell_timeout)["gemm_gflops"])
            if not args.no_flops:
                records[v].update(workers[v].ask({"cmd": "flops"}, args.cell_timeout))
            if args.profile_steps and not args.no_profile:
                records[v].update(workers[v].ask({"cmd": "profile", "n": args.profile_steps}, args.cell_timeout))
    except Exception as exc:
        for v in specs:
            records[v].setdefault("error", f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        for w in workers.values():
            w.close()
    return records


# ---------------------------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------------------------
def ensure_baseline(commit: str, directory: Path) -> str:
    """A checkout of ``commit`` in ``directory`` (``git worktree add --detach`` when absent); returns its sha."""
    if not (directory / "inceptionxml").is_dir():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(directory), commit],
            check=True,
            capture_output=True,
            text=True,
        )
    sha = subprocess.run(
        ["git", "-C", str(directory), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    want = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", commit], check=True, capture_output=True, text=True
    ).stdout.strip()
    if sha != want:
        raise SystemExit(f"{directory} is at {sha[:10]}, not at the baseline {commit} ({want[:10]})")
    return sha


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()

    return {"sha": git("rev-parse", "HEAD"), "dirty_files": git("status", "--porcelain").splitlines()}


def summarize(cells: list[dict[str, Any]], peaks: dict[int, float]) -> list[dict[str, Any]]:
    """One row per (model, threads, variant): step ms median/min, GFLOP, GFLOP/s, % of peak, phases."""
    out = []
    for c in cells:
        row = {k: c[k] for k in ("model", "threads", "variant") if k in c}
        row["error"] = c.get("error")
        for k in ("step_ms", "flops", "flops_by_op", "profile", "gemm_gflops", "build_s"):
            if k in c:
                row[k] = c[k]
        if c.get("step_ms"):
            med = statistics.median(c["step_ms"])
            row["median_ms"], row["min_ms"] = med, min(c["step_ms"])
            if "flops" in c:
                row["gflop"] = c["flops"] / 1e9
                row["gflops"] = row["gflop"] / (med / 1000.0)
                row["pct_peak"] = 100.0 * row["gflops"] / peaks[c["threads"]]
        out.append(row)
    return out


def _f(v: Any, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def tables(rows: list[dict[str, Any]], peaks: dict[int, float], variants: list[str]) -> str:
    """Markdown: the step table (speed-ups against ``before`` in the same environment) and the phase breakdown."""
    by = {(r["model"], r["threads"], r["variant"]): r for r in rows}
    head = "| model | threads | variant | step ms median | min | GFLOP/step | GFLOP/s | % of GEMM peak |"
    lines = [head + " speed-up (medians) | speed-up (minima) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for model in MODELS:
        for threads in sorted(peaks):
            for v in variants:
                r = by.get((model, threads, v))
                if r is None:
                    continue
                base = by.get((model, threads, "before-passive" if v.endswith("-passive") else "before"), {})
                ratio = base["median_ms"] / r["median_ms"] if base.get("median_ms") and r.get("median_ms") else None
                ratio_min = base["min_ms"] / r["min_ms"] if base.get("min_ms") and r.get("min_ms") else None
                lines.append(
                    f"| {model} | {threads} | {v} | {_f(r.get('median_ms'))} | {_f(r.get('min_ms'))} | "
                    f"{_f(r.get('gflop'), '.2f')} | {_f(r.get('gflops'))} | {_f(r.get('pct_peak'))} | "
                    f"{_f(ratio, '.2f')}× | {_f(ratio_min, '.2f')}× |"
                    + (f" error: {r['error'][:80]}" if r.get("error") else "")
                )
    peak_txt = ", ".join(f"{t} thread{'s' if t > 1 else ''}: {p:.1f} GFLOP/s" for t, p in sorted(peaks.items()))
    lines += ["", f"GEMM peak (best 2048³ fp32 mm in the run): {peak_txt}.", ""]
    lines += [
        "Where the time goes (profiled ms per step, self CPU time by phase; top ops in the JSON):",
        "",
        "| model | threads | variant | " + " | ".join(PHASES) + " | profiled step |",
        "|---|---|---|" + "---|" * (len(PHASES) + 1),
    ]
    for model in MODELS:
        for threads in sorted(peaks):
            for v in variants:
                r = by.get((model, threads, v))
                if r is None or "profile" not in r:
                    continue
                ms = r["profile"]["ms_per_step"]
                lines.append(
                    f"| {model} | {threads} | {v} | "
                    + " | ".join(_f(ms[p]) for p in PHASES)
                    + f" | {_f(r['profile']['wall_ms_per_step'])} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:  # internal: one variant's process, driven over stdin/stdout
        return worker_main(argv[1])

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch intra-op thread counts")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {VARIANTS}")
    parser.add_argument("--baseline", default=BASELINE, help="the 'before' commit")
    parser.add_argument("--baseline-dir", type=Path, default=None, help="its checkout (default: a temp worktree)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps in each worker first")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant, taken in lockstep")
    parser.add_argument("--profile-steps", type=int, default=3, help="profiled steps per variant, after the timing")
    parser.add_argument(
        "--warm-steps",
        type=int,
        default=176,
        help="train the shortlist models this many steps first (default: one epoch) and time from that state",
    )
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-flops", action="store_true")
    parser.add_argument("--cell-timeout", type=float, default=900.0, help="seconds to wait for any one reply")
    parser.add_argument("--out", type=Path, default=REPO / "results/benchmarks/train_step.json")
    args = parser.parse_args(argv)

    models = [m for m in args.models.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    threads = [int(t) for t in args.threads.split(",") if t]
    if set(models) - set(MODELS) or set(variants) - set(VARIANTS):
        parser.error(f"models from {MODELS}, variants from {VARIANTS}")
    trees = {"work": str(REPO)}
    base_sha = None
    if any(VARIANT_SPECS[v][0] == "base" for v in variants):
        base_dir = args.baseline_dir or Path(tempfile.gettempdir()) / f"xmc-train-step-base-{args.baseline}"
        base_sha = ensure_baseline(args.baseline, base_dir)
        trees["base"] = str(base_dir)

    started = time.time()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "data.npz"
        t0 = time.perf_counter()
        data_info = prepare_data(data_path, models)
        data_info["prepare_s"] = round(time.perf_counter() - t0, 1)
        print(f"data ready in {data_info['prepare_s']} s: {data_info}", flush=True)
        states: dict[str, str] = {}
        if args.warm_steps:
            t0 = time.perf_counter()
            for model in [m for m in models if m in SHORTLIST]:
                states[model] = str(Path(tmp) / f"{model}.pt")
                warm_state(model, data_path, args.warm_steps, Path(states[model]))
            data_info["warm_s"] = round(time.perf_counter() - t0, 1)
            print(f"shortlist models trained {args.warm_steps} steps in {data_info['warm_s']} s", flush=True)
        cells: list[dict[str, Any]] = []
        for model in models:
            for t in threads:
                group = [v for v in variants if t > 1 or "OMP_WAIT_POLICY" not in VARIANT_SPECS[v][2]]
                specs = {
                    v: {
                        "model": model,
                        "threads": t,
                        "variant": v,
                        "recipe": VARIANT_SPECS[v][1],
                        "tree": trees[VARIANT_SPECS[v][0]],
                        "env": VARIANT_SPECS[v][2],
                        "state": states.get(model),
                        "data": str(data_path),
                        "warmup": args.warmup,
                    }
                    for v in group
                }
                t0 = time.perf_counter()
                records = run_group(specs, args, Path(tmp))
                for v, rec in records.items():
                    cells.append({"model": model, "threads": t, "variant": v, **rec})
                    ms = rec.get("step_ms")
                    msg = f"median {statistics.median(ms):.1f} ms, min {min(ms):.1f}" if ms else ""
                    print(f"{model} t={t} {v}: {msg} {rec.get('error') or ''}"[:400], flush=True)
                print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)

    peaks: dict[int, float] = {}
    for c in cells:
        for g in c.get("gemm_gflops", []):
            peaks[c["threads"]] = max(peaks.get(c["threads"], 0.0), g)
    rows = summarize(cells, peaks)
    md = tables(rows, peaks, variants)
    print(md)

    import torch

    record = {
        "benchmark": "train_step",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "wall_s": round(time.time() - started, 1),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "machine": {"cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "python": platform.python_version()},
        "torch": torch.__version__,
        "baseline": {"commit": args.baseline, "sha": base_sha},
        "working_tree": git_state(),
        "settings": {
            "suite": SUITE,
            "batch": BATCH,
            "threads": threads,
            "interop_threads": 1,
            "warmup": args.warmup,
            "steps": args.steps,
            "profile_steps": 0 if args.no_profile else args.profile_steps,
            "warm_steps": args.warm_steps,
            "variants": {
                v: {"tree": trees[VARIANT_SPECS[v][0]], "recipe": VARIANT_SPECS[v][1], "env": VARIANT_SPECS[v][2]}
                for v in variants
            },
        },
        "data": data_info,
        "gemm_peak_gflops": peaks,
        "rows": rows,
        "cells": cells,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
