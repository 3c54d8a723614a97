"""A small, reusable training loop: seeding, Adam + OneCycle, AMP, NaN guard, validation-based selection.

Usage::

    from inceptionxml.train import TrainSettings, fit_loop, seed_everything, resolve_device
    with seed_everything(0):
        result = fit_loop(
            net, n_train=len(X), loss_fn=lambda net, idx, epoch: bce(net(X[idx]), targets(idx)),
            validate=lambda net: {"p@1": ...}, settings=TrainSettings(epochs=10), device=resolve_device("auto"),
        )
    result.best_epoch, result.history        # the best epoch's weights are back in ``net``

The loop knows nothing about InceptionXML: a model supplies ``loss_fn`` (batch indices → scalar loss) and
``validate`` (→ metric dict), so SyncXML or LightXML-style models can reuse it unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from harness.models.contract import FitReport

log = logging.getLogger(__name__)

#: Metrics added up by ``select_metric="sum"`` (the official code's checkpoint criterion, §2.7).
SUM_KEYS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")


class NonFiniteLossError(HarnessError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of :func:`fit_loop` (the model config maps onto these).

    ``schedule="wsd"`` trains to convergence: linear warm-up, a constant learning rate while the validation metric
    still improves, and a linear cool-down to zero once it has plateaued (``patience`` evaluations without a gain
    of ``min_delta``) or once a budget (``epochs``, ``max_steps``, ``time_budget_s``) is about to run out. Because
    the cool-down is planned when training is about to stop, every run ends annealed, however early it stops (the
    warmup-stable-decay schedule; a one-cycle schedule cut short would stop at a high learning rate).
    ``schedule="onecycle"`` is the papers' fixed-length one-cycle over exactly ``epochs``.
    """

    #: The maximum number of epochs ("wsd", "constant") or the fixed length ("onecycle").
    epochs: int = 45
    batch_size: int = 128
    lr: float = 5e-3
    weight_decay: float = 0.0
    pct_start: float = 0.3
    div_factor: float = 10.0
    final_div_factor: float = 1e4
    select_metric: str = "p@1"
    #: Evaluations without a gain of ``min_delta`` that count as a plateau (``None``: never stop on a plateau).
    patience: int | None = None
    min_delta: float = 1e-3
    #: Validate every N epochs (and at the last); ``None``: every ceil(eval_min_steps / steps-per-epoch) epochs,
    #: so that a 5K-row dataset is not validated (and judged for a plateau) every 20 optimiser steps.
    eval_every: int | None = 1
    eval_min_steps: int = 100
    amp: str = "none"
    grad_clip: float | None = None
    #: "wsd" (warm-up, stable, cool-down; see above), "onecycle" (InceptionXML/SyncXML papers, stepped per
    #: batch) or "constant" (LightXML's AdamW has no schedule).
    schedule: str = "onecycle"
    #: "wsd": warm-up length in epochs (fractions allowed) and the cool-down's share of the whole run.
    warmup_epochs: float = 1.0
    cooldown_frac: float = 0.2
    #: Budgets: at most this many optimiser steps / seconds of training (``None``: no limit).
    max_steps: int | None = None
    time_budget_s: float | None = None
    #: Training rows over which BatchNorm statistics are recomputed before every validation (0: off).
    bn_recalibration_rows: int = 2048
    #: Stochastic weight averaging (LightXML §3.4): from this epoch on, average the weights every ``swa_every``
    #: steps and validate/keep the average. ``None``: off.
    swa_start: int | None = None
    swa_every: int = 1


#: Why a run ended (``LoopResult.stop_reason``); only "plateau" means the validation metric converged.
STOP_REASONS = ("plateau", "max_epochs", "max_steps", "time_budget", "no_validation")


@dataclass
class LoopResult:
    """What :func:`fit_loop` did: the selected epoch, its validation metrics, the per-epoch history, why it stopped."""

    train_seconds: float
    epochs_run: int
    best_epoch: int | None
    best_val: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str = "max_epochs"
    converged: bool | None = None
    #: The schedule as run: warm-up steps, the epoch the cool-down started (``None``: none) and total steps.
    schedule: dict[str, Any] = field(default_factory=dict)

    def fit_report(self, seconds: float) -> FitReport:
        """The runner's record of this loop (``seconds``: the whole fit, data preparation included)."""
        return FitReport(
            train_seconds=seconds,
            epochs_run=self.epochs_run,
            best_epoch=self.best_epoch,
            best_val=self.best_val,
            history=self.history,
            stop_reason=self.stop_reason,
            converged=self.converged,
            schedule=self.schedule,
        )


@contextlib.contextmanager
def seed_everything(seed: int, deterministic: bool = True) -> Iterator[None]:
    """Seed Python, numpy and torch, and (on CPU) insist on deterministic kernels while inside the block.

    The deterministic flag is process-global, so the previous value is restored on exit rather than
    leaking into whatever runs next (other models, other tests). Deterministic mode would also fill every
    new tensor with NaN to expose reads of uninitialised memory; that debugging aid made a CPU epoch ~6x
    slower here and adds nothing to reproducibility, so it is switched off inside the block.
    """
    import torch.utils.deterministic as torch_det

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global RNG is what other code may use
    torch.manual_seed(seed)
    previous = torch.are_deterministic_algorithms_enabled()
    previous_fill = torch_det.fill_uninitialized_memory
    torch.use_deterministic_algorithms(deterministic)
    torch_det.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch_det.fill_uninitialized_memory = previous_fill


def adam(params: Any, *, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the fused implementation: the same update rule in one pass per tensor instead of seven (lerp, mul,
    addcmul, sqrt, div, add, addcdiv) over, e.g., the 17K × H label table; equal to the default implementation up
    to float rounding (tests/models/test_training_fast_paths.py), 4-5x less optimiser time on CPU.
    """
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cuda"`` without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError("device 'cuda' was requested but torch sees no GPU (install a CUDA build of torch)")
    return torch.device(name)


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``; CPU always runs fp32 (so CPU runs stay deterministic)."""
    if device.type != "cuda" or amp == "none":
        return None
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    raise HarnessError(f"amp must be 'bf16', 'fp16' or 'none', got {amp!r}")


def selection_score(metrics: dict[str, float], key: str) -> float:
    """The value compared across epochs; ``"sum"`` adds P@1,3,5 and PSP@1,3,5 (those present)."""
    if key == "sum":
        return float(sum(metrics[k] for k in SUM_KEYS if k in metrics))
    if key not in metrics:
        raise HarnessError(f"select_metric {key!r} is not among the validation metrics {sorted(metrics)}")
    return float(metrics[key])


def fit_loop(
    net: nn.Module,
    *,
    n_train: int,
    loss_fn: Callable[[nn.Module, torch.Tensor, int], torch.Tensor],
    validate: Callable[[nn.Module], dict[str, float]] | None,
    settings: TrainSettings,
    device: torch.device,
    progress: bool = False,
    generator_seed: int = 0,
    optimizers: Callable[[nn.Module], list[torch.optim.Optimizer]] | None = None,
    report: Callable[..., None] | None = None,
) -> LoopResult:
    """Train ``net`` under ``settings.schedule``; keep the weights of the best validation epoch.

    Args:
        net: the model, already on ``device``.
        n_train: number of training points; batches are index tensors into them.
        loss_fn: ``(net, batch_indices, epoch) -> scalar loss`` (called under autocast when AMP is on). It is also
            called without gradients, in eval mode with BatchNorm layers in train mode, to recompute BatchNorm
            statistics on training rows before each validation (:func:`recalibrate_batchnorm`).
        validate: ``net -> {"p@1": ...}`` in eval mode, or ``None`` to skip selection (last epoch wins).
        settings: optimisation settings, budgets included.
        device: where ``net`` lives.
        progress: show a tqdm bar with the running loss and the last validation P@1.
        generator_seed: seeds the shuffling of every epoch (and the rows BatchNorm statistics are taken on).
        optimizers: ``net -> [optimizer, ...]`` for models with several parameter groups (SyncXML's sparse
            tables, LightXML's AdamW); default one Adam over every parameter. Each gets the same schedule.
        report: ``report(**event)`` receives live progress (``phase="train"``, epoch, epochs, step, steps,
            loss, ``val_p@1``); see :class:`harness.models.contract.FitContext`.

    Returns:
        The loop's record; ``net`` holds the selected epoch's weights.

    Raises:
        NonFiniteLossError: the loss became NaN/inf (names the epoch and step).
    """
    from tqdm.auto import tqdm

    say = report or (lambda **_: None)
    steps_per_epoch = max(1, math.ceil(n_train / settings.batch_size))
    eval_every = settings.eval_every or max(1, math.ceil(settings.eval_min_steps / steps_per_epoch))
    if optimizers is None:
        opts = [adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)]
    else:
        opts = optimizers(net)
    plan = _Plan(settings, steps_per_epoch)
    schedulers = [_schedule(opt, settings, plan) for opt in opts]
    swa = _WeightAverage(settings.swa_start, settings.swa_every) if settings.swa_start is not None else None
    amp_dtype = autocast_dtype(settings.amp, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    shuffle = torch.Generator().manual_seed(generator_seed)
    bn_rows = _bn_batches(n_train, settings, generator_seed)

    history: list[dict[str, float]] = []
    best_score, best_epoch, best_val, best_state = -math.inf, None, {}, None
    stale, last_p1 = 0, float("nan")
    start = time.perf_counter()
    epoch, step_count, last_report = 0, 0, 0.0

    def evaluate_into(record: dict[str, float], epoch: int) -> None:
        """Recompute BatchNorm statistics, validate, keep the weights if best; adds ``val_*`` to ``record``."""
        nonlocal best_score, best_epoch, best_val, best_state, stale, last_p1
        if validate is None:
            return
        net.eval()
        live = swa.swap_in(net) if swa is not None else None  # validate (and keep) the averaged weights
        tv = time.perf_counter()
        recalibrate_batchnorm(net, lambda idx: loss_fn(net, idx, epoch), bn_rows, device, amp_dtype)
        with torch.no_grad():
            metrics = validate(net)
        record["val_seconds"] = time.perf_counter() - tv
        record.update({f"val_{k}": v for k, v in metrics.items()})
        last_p1 = metrics.get("p@1", float("nan"))
        score = selection_score(metrics, settings.select_metric)
        record["val_score"] = score
        if score > best_score:
            stale = 0 if score - best_score >= settings.min_delta else stale + 1
            best_score, best_epoch, best_val = score, epoch, dict(metrics)
            # Copy to CPU: a GPU copy of a 10⁸-parameter head would double device memory.
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
        else:
            stale += 1
        if live is not None:
            net.load_state_dict(live)
        net.train()

    while epoch < plan.end_epoch:
        epoch += 1
        net.train()
        t0 = time.perf_counter()
        order = torch.randperm(n_train, generator=shuffle)
        total, seen = 0.0, 0
        clip = _ClipStats(settings.grad_clip) if settings.grad_clip else None
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{plan.end_epoch}",
            disable=not progress,
            leave=False,
            mininterval=1.0,
        )
        for step in bar:
            idx = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = loss_fn(net, idx, epoch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"training loss became {value} at epoch {epoch}, step {step + 1}/{steps_per_epoch}; "
                    "lower the learning rate, enable grad_clip, or use amp='bf16'/'none' instead of fp16"
                )
            for opt in opts:
                opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                for opt in opts:
                    scaler.unscale_(opt)
                if settings.grad_clip:
                    clip.step(net)
                for opt in opts:
                    scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                if settings.grad_clip:
                    clip.step(net)
                for opt in opts:
                    opt.step()
            step_count += 1
            # GradScaler skips optimizer.step() on steps with inf/NaN grads (normal while it calibrates); the
            # schedule still advances per batch, so silence torch's "step order" warning for it.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
                for sched in schedulers:
                    if sched is not None:
                        sched.step()
            if swa is not None:
                swa.maybe_update(net, epoch)
            total += value * len(idx)
            seen += len(idx)
            if progress:
                bar.set_postfix(loss=f"{total / seen:.4f}", val_p1=f"{last_p1:.4f}", refresh=False)
            now = time.perf_counter()
            if now - last_report >= 1.0:
                last_report = now
                say(phase="train", epoch=epoch, epochs=plan.end_epoch, step=step + 1, steps=steps_per_epoch,
                    loss=total / seen, **{"val_p@1": _none_if_nan(last_p1)})  # fmt: skip
            if plan.max_steps is not None and step_count >= plan.max_steps:
                break
        bar.close()
        record = {
            "epoch": float(epoch),
            "loss": total / max(seen, 1),
            "lr": float(opts[0].param_groups[0]["lr"]),
            "seconds": time.perf_counter() - t0,
        }
        if clip is not None:
            record.update(clip.summary())

        record["val_seconds"] = 0.0
        evaluated = False
        if epoch % eval_every == 0 or plan.is_last(epoch, step_count):
            evaluate_into(record, epoch)
            evaluated = True
        plateau = settings.patience is not None and validate is not None and stale >= settings.patience
        plan.after_epoch(epoch, step_count, plateau, time.perf_counter() - start)
        if not evaluated and plan.is_last(epoch, step_count):  # a budget ended the run at an unplanned epoch
            evaluate_into(record, epoch)
        record["seconds_total"] = time.perf_counter() - t0
        history.append(record)
        log.info(
            "epoch %d/%d: loss %.5f, lr %.2e, %.1fs%s",
            epoch,
            plan.end_epoch,
            record["loss"],
            record["lr"],
            record["seconds"],
            f", val {settings.select_metric} {record['val_score']:.4f} (best {best_score:.4f} at epoch {best_epoch})"
            if "val_score" in record
            else "",
        )
        say(phase="train", epoch=epoch, epochs=plan.end_epoch, step=steps_per_epoch, steps=steps_per_epoch,
            loss=record["loss"], **{"val_p@1": _none_if_nan(last_p1)})  # fmt: skip

    if validate is None:
        best_epoch = epoch
        if swa is not None:
            swa.swap_in(net)
        recalibrate_batchnorm(net, lambda idx: loss_fn(net, idx, epoch), bn_rows, device, amp_dtype)
    elif best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    reason = plan.final_reason(epoch, step_count) if validate is not None else "no_validation"
    budget_ended = reason in ("max_epochs", "max_steps", "time_budget")
    if budget_ended and settings.patience is not None and stale >= settings.patience:
        reason = "plateau"  # a budget ended the run, but the metric had plateaued anyway
    if reason == "plateau":
        log.info("converged: val %s plateaued (patience %s)", settings.select_metric, settings.patience)
    else:
        log.info("stopped by the %s budget before val %s plateaued: not converged", reason, settings.select_metric)
    return LoopResult(
        train_seconds=time.perf_counter() - start,
        epochs_run=epoch,
        best_epoch=best_epoch,
        best_val=best_val,
        history=copy.deepcopy(history),
        stop_reason=reason,
        converged=None if validate is None else reason == "plateau",
        schedule=plan.describe(step_count),
    )


class _ClipStats:
    """Gradient-norm clipping that keeps count: the epoch's largest norm and how many steps it clipped.

    Recorded in the history so that a reader sees whether clipping only caught the rare shock it is there for
    (about one step per epoch on wordnet-nouns: the batch holding a title that repeats a word, docs/training.md)
    or rescaled every step.
    """

    def __init__(self, max_norm: float) -> None:
        self.max_norm, self.largest, self.clipped, self.steps = max_norm, 0.0, 0, 0

    def step(self, net: nn.Module) -> None:
        norm = float(nn.utils.clip_grad_norm_(net.parameters(), self.max_norm))
        self.largest = max(self.largest, norm)
        self.steps += 1
        if norm > self.max_norm:
            self.clipped += 1
            if self.clipped <= 3:  # the first few of an epoch say where the shocks fall
                log.info("step %d of the epoch: gradient norm %.3g clipped to %g", self.steps, norm, self.max_norm)

    def summary(self) -> dict[str, float]:
        return {"grad_norm_max": self.largest, "clipped_frac": self.clipped / max(self.steps, 1)}


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


class _Plan:
    """When training ends and when the learning rate cools down, re-decided after every epoch.

    Budgets are combined into one end epoch: ``epochs``, ``max_steps`` (whole epochs, the last one may be cut
    at the step limit) and ``time_budget_s`` (epochs that fit in the time left at the mean epoch time, validation
    included). Under "wsd" the cool-down starts when the validation metric plateaus (it then lasts
    ``cooldown_frac`` of the run) or when the remaining budget is no longer than the cool-down the run needs;
    once started, its end is fixed. The learning-rate schedule reads :meth:`lr_factor` every step.
    """

    def __init__(self, settings: TrainSettings, steps_per_epoch: int) -> None:
        if settings.schedule not in ("wsd", "onecycle", "constant"):
            raise HarnessError(f"schedule must be 'wsd', 'onecycle' or 'constant', got {settings.schedule!r}")
        self.settings, self.spe = settings, steps_per_epoch
        self.max_steps = settings.max_steps
        self.end_epoch = settings.epochs
        self.limit_reason = "max_epochs"
        if self.max_steps is not None and math.ceil(self.max_steps / steps_per_epoch) < self.end_epoch:
            self.end_epoch, self.limit_reason = max(1, math.ceil(self.max_steps / steps_per_epoch)), "max_steps"
        self.warmup_steps = max(1, round(settings.warmup_epochs * steps_per_epoch))
        self.cooldown_start: int | None = None  # the epoch after which the learning rate decays
        self.stop_reason: str | None = None

    def _cooldown_epochs(self, total_epochs: int) -> int:
        return max(1, round(self.settings.cooldown_frac * total_epochs))

    def after_epoch(self, epoch: int, steps: int, plateau: bool, elapsed: float) -> None:
        """Update the end epoch and the cool-down from this epoch's outcome (plateau, time used)."""
        budget = self.settings.time_budget_s
        if budget is not None and self.cooldown_start is None:
            per_epoch = elapsed / epoch
            fits = epoch + int((budget - elapsed) // per_epoch)
            if fits < self.end_epoch:
                self.end_epoch, self.limit_reason = max(epoch, fits), "time_budget"
        if self.settings.schedule != "wsd":  # no cool-down to plan: a plateau ends training at once
            if plateau:
                self.stop_reason, self.end_epoch = "plateau", epoch
            return
        if self.cooldown_start is not None:
            return
        if plateau:
            # The cool-down is cooldown_frac of the whole run: c = f/(1-f) of what ran so far.
            c = max(1, round(self.settings.cooldown_frac / (1 - self.settings.cooldown_frac) * epoch))
            self.cooldown_start, self.stop_reason = epoch, "plateau"
            self.end_epoch = min(self.end_epoch, epoch + c)
        elif self.end_epoch - epoch <= self._cooldown_epochs(self.end_epoch):
            self.cooldown_start, self.stop_reason = epoch, self.limit_reason

    def is_last(self, epoch: int, steps: int) -> bool:
        return epoch >= self.end_epoch or (self.max_steps is not None and steps >= self.max_steps)

    def final_reason(self, epoch: int, steps: int) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        if self.max_steps is not None and steps >= self.max_steps:
            return "max_steps"
        return self.limit_reason

    def lr_factor(self, step: int) -> float:
        """Multiplier of the peak learning rate after ``step`` optimiser steps ("wsd")."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.cooldown_start is None:
            return 1.0
        begin = self.cooldown_start * self.spe
        end = self.end_epoch * self.spe
        if self.max_steps is not None:
            end = min(end, self.max_steps)
        if end <= begin:
            return 0.0
        return max(0.0, 1.0 - (step - begin) / (end - begin))

    def describe(self, steps: int) -> dict[str, Any]:
        return {
            "schedule": self.settings.schedule,
            "steps_per_epoch": self.spe,
            "warmup_steps": self.warmup_steps if self.settings.schedule == "wsd" else None,
            "cooldown_start_epoch": self.cooldown_start,
            "end_epoch": self.end_epoch,
            "steps": steps,
        }


def _schedule(opt: torch.optim.Optimizer, settings: TrainSettings, plan: _Plan) -> Any:
    """The per-batch learning-rate schedule of ``opt``: WSD (read from ``plan``), OneCycle, or ``None`` (constant)."""
    if settings.schedule == "constant":
        return None
    if settings.schedule == "wsd":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: plan.lr_factor(step))
    max_lr = [group["lr"] for group in opt.param_groups]
    # Adam, AdamW and SparseAdam all carry betas, so β₁ cycles as in the official code (0.85–0.95).
    cycle = all("betas" in group for group in opt.param_groups)
    return torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=max_lr,
        total_steps=plan.end_epoch * plan.spe,
        pct_start=settings.pct_start,
        div_factor=settings.div_factor,
        final_div_factor=settings.final_div_factor,
        cycle_momentum=cycle,
    )


def _bn_batches(n_train: int, settings: TrainSettings, seed: int) -> list[torch.Tensor]:
    """Fixed training rows (seeded, independent of the epoch shuffles) in batches, for BatchNorm statistics."""
    rows = min(n_train, settings.bn_recalibration_rows)
    if rows <= 0:
        return []
    perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed + 7919))[:rows]
    return list(perm.split(settings.batch_size))


def recalibrate_batchnorm(
    net: nn.Module,
    forward: Callable[[torch.Tensor], Any],
    batches: list[torch.Tensor],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
) -> bool:
    """Recompute every BatchNorm's running mean and variance on the current weights: the median over ``batches``.

    Why recompute: BatchNorm's running statistics are an exponential average over past training batches. While
    the weights still move fast (a high constant learning rate, the first epochs) that average describes an older
    network than the one being validated; in SyncXML at lr 0.02 the projection's running variance reached 2,381 and
    validation P@1 fell from 0.143 to 0.011 while the training loss kept falling (batch statistics gave 0.161).

    Why the median of the per-batch statistics, not their mean: a few inputs drive a channel to values thousands
    of times the usual. On wordnet-nouns, titles that repeat a word many times ("Dostoyevsky, Dostoevski,
    Dostoevsky, Feodor Dostoyevsky, ...") make the encoder's unnormalised embedding attention, cubic in the
    embeddings, reach 3.3e4 in a projection channel whose median row is below 3. One such row among the 2,048
    made that channel's mean variance 826 (the running average, which had not met it lately, said 0.027);
    dividing by it silenced the channel for every other input and lightxml's validation P@1 fell from 0.19 to
    0.01 (docs/training.md). The median over the batches is the statistic of a typical batch, which is what the
    network was trained to see in all but one batch in ~180.

    The pass runs with dropout off (eval mode) and only the BatchNorm layers in train mode, one batch at a time
    (``momentum=1``: each batch's own statistics), so the statistics are those of the activations inference will
    see. No gradients, no optimiser state touched.

    Returns:
        False when ``net`` has no BatchNorm layer or there are no batches (nothing done).
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or not batches:
        return False
    modes = {m: m.training for m in net.modules()}
    momenta = [m.momentum for m in norms]
    seen: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in norms]
    net.eval()
    for m in norms:
        m.momentum = 1.0  # the running statistics become the last batch's own
        m.train()
    try:
        with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            for idx in batches:
                forward(idx)
                for stats, m in zip(seen, norms, strict=True):
                    stats.append((m.running_mean.clone(), m.running_var.clone()))
        with torch.no_grad():
            for stats, m in zip(seen, norms, strict=True):
                means, variances = (torch.stack(t).float() for t in zip(*stats, strict=True))
                m.running_mean.copy_(means.quantile(0.5, dim=0))
                m.running_var.copy_(variances.quantile(0.5, dim=0))
                m.num_batches_tracked.fill_(len(batches))
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
    return True


class _WeightAverage:
    """Running mean of the floating-point state (SWA, LightXML §3.4), started at an epoch, updated every N steps.

    A plain running mean of the state dict, kept on the weights' device: validation swaps it in, so the
    selected checkpoint is the averaged one, as in LightXML's code.
    """

    def __init__(self, start_epoch: int, every: int) -> None:
        self.start_epoch, self.every = start_epoch, max(1, every)
        self.mean: dict[str, torch.Tensor] | None = None
        self.count = 0
        self.steps = 0

    def maybe_update(self, net: nn.Module, epoch: int) -> None:
        if epoch < self.start_epoch:
            return
        self.steps += 1
        if (self.steps - 1) % self.every:
            return
        with torch.no_grad():
            state = net.state_dict()
            if self.mean is None:
                self.mean = {k: v.detach().clone() for k, v in state.items() if v.is_floating_point()}
            else:
                for k, avg in self.mean.items():
                    avg.add_(state[k].detach() - avg, alpha=1.0 / (self.count + 1))
        self.count += 1

    def swap_in(self, net: nn.Module) -> dict[str, torch.Tensor] | None:
        """Load the average into ``net``; return the live weights to restore (``None``: nothing averaged yet)."""
        if self.mean is None:
            return None
        live = {k: v.detach().clone() for k, v in net.state_dict().items()}
        net.load_state_dict({**live, **self.mean})
        return live
