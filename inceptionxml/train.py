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

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError

log = logging.getLogger(__name__)

#: Metrics added up by ``select_metric="sum"`` (the official code's checkpoint criterion, §2.7).
SUM_KEYS = ("p@1", "p@3", "p@5", "psp@1", "psp@3", "psp@5")


class NonFiniteLossError(HarnessError):
    """The training loss became NaN or infinite; the message names the epoch and step."""


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of :func:`fit_loop` (the model config maps onto these)."""

    epochs: int = 45
    batch_size: int = 128
    lr: float = 5e-3
    weight_decay: float = 0.0
    pct_start: float = 0.3
    div_factor: float = 10.0
    final_div_factor: float = 1e4
    select_metric: str = "p@1"
    patience: int | None = None
    eval_every: int = 1
    amp: str = "none"
    grad_clip: float | None = None
    #: "onecycle" (InceptionXML/SyncXML, stepped per batch) or "constant" (LightXML's AdamW has no schedule).
    schedule: str = "onecycle"
    #: Stochastic weight averaging (LightXML §3.4): from this epoch on, average the weights every ``swa_every``
    #: steps and validate/keep the average. ``None``: off.
    swa_start: int | None = None
    swa_every: int = 1


@dataclass
class LoopResult:
    """What :func:`fit_loop` did: the selected epoch, its validation metrics and the per-epoch history."""

    train_seconds: float
    epochs_run: int
    best_epoch: int | None
    best_val: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


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
) -> LoopResult:
    """Train ``net`` with Adam and a per-batch OneCycle schedule; keep the weights of the best val epoch.

    Args:
        net: the model, already on ``device``.
        n_train: number of training points; batches are index tensors into them.
        loss_fn: ``(net, batch_indices, epoch) -> scalar loss`` (called under autocast when AMP is on).
        validate: ``net -> {"p@1": ...}`` in eval mode, or ``None`` to skip selection (last epoch wins).
        settings: optimisation settings.
        device: where ``net`` lives.
        progress: show a tqdm bar with the running loss and the last validation P@1.
        generator_seed: seeds the shuffling of every epoch.
        optimizers: ``net -> [optimizer, ...]`` for models with several parameter groups (SyncXML's sparse
            tables, LightXML's AdamW); default one Adam over every parameter. Each gets the same schedule.

    Returns:
        The loop's record; ``net`` holds the selected epoch's weights.

    Raises:
        NonFiniteLossError: the loss became NaN/inf (names the epoch and step).
    """
    from tqdm.auto import tqdm

    steps_per_epoch = max(1, math.ceil(n_train / settings.batch_size))
    if optimizers is None:
        opts = [torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)]
    else:
        opts = optimizers(net)
    schedulers = [_schedule(opt, settings, steps_per_epoch) for opt in opts]
    swa = _WeightAverage(settings.swa_start, settings.swa_every) if settings.swa_start is not None else None
    amp_dtype = autocast_dtype(settings.amp, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    shuffle = torch.Generator().manual_seed(generator_seed)

    history: list[dict[str, float]] = []
    best_score, best_epoch, best_val, best_state = -math.inf, None, {}, None
    stale, last_p1 = 0, float("nan")
    start = time.perf_counter()
    epoch = 0
    for epoch in range(1, settings.epochs + 1):
        net.train()
        t0 = time.perf_counter()
        order = torch.randperm(n_train, generator=shuffle)
        total, seen = 0.0, 0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"epoch {epoch}/{settings.epochs}",
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
                    nn.utils.clip_grad_norm_(net.parameters(), settings.grad_clip)
                for opt in opts:
                    scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                if settings.grad_clip:
                    nn.utils.clip_grad_norm_(net.parameters(), settings.grad_clip)
                for opt in opts:
                    opt.step()
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
        bar.close()
        record = {"epoch": float(epoch), "loss": total / max(seen, 1), "seconds": time.perf_counter() - t0}

        is_eval_epoch = epoch % settings.eval_every == 0 or epoch == settings.epochs
        if validate is not None and is_eval_epoch:
            net.eval()
            live = swa.swap_in(net) if swa is not None else None  # validate (and keep) the averaged weights
            with torch.no_grad():
                metrics = validate(net)
            record.update({f"val_{k}": v for k, v in metrics.items()})
            last_p1 = metrics.get("p@1", float("nan"))
            score = selection_score(metrics, settings.select_metric)
            if score > best_score:
                best_score, best_epoch, best_val, stale = score, epoch, dict(metrics), 0
                # Copy to CPU: a GPU copy of a 10⁸-parameter head would double device memory.
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
            else:
                stale += 1
            if live is not None:
                net.load_state_dict(live)
        history.append(record)
        log.info(
            "epoch %d: loss %.5f, %.1fs%s",
            epoch,
            record["loss"],
            record["seconds"],
            f", val {settings.select_metric} {score:.4f}" if validate is not None and is_eval_epoch else "",
        )
        if settings.patience is not None and validate is not None and stale >= settings.patience:
            log.info("early stop at epoch %d: no gain on val for %d evaluations", epoch, stale)
            break

    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        best_epoch = epoch if validate is None else best_epoch
        if swa is not None:
            swa.swap_in(net)
    net.eval()
    return LoopResult(
        train_seconds=time.perf_counter() - start,
        epochs_run=epoch,
        best_epoch=best_epoch,
        best_val=best_val,
        history=copy.deepcopy(history),
    )


def _schedule(
    opt: torch.optim.Optimizer, settings: TrainSettings, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """OneCycle over the whole run (per batch), or ``None`` for a constant learning rate."""
    if settings.schedule == "constant":
        return None
    if settings.schedule != "onecycle":
        raise HarnessError(f"schedule must be 'onecycle' or 'constant', got {settings.schedule!r}")
    max_lr = [group["lr"] for group in opt.param_groups]
    # Adam, AdamW and SparseAdam all carry betas, so β₁ cycles as in the official code (0.85–0.95).
    cycle = all("betas" in group for group in opt.param_groups)
    return torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=max_lr,
        total_steps=settings.epochs * steps_per_epoch,
        pct_start=settings.pct_start,
        div_factor=settings.div_factor,
        final_div_factor=settings.final_div_factor,
        cycle_momentum=cycle,
    )


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
