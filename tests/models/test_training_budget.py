"""The training loop's convergence machinery: plateau detection, budgets, the cool-down and BatchNorm statistics.

These are what make a benchmark row worth comparing: a run ends annealed whether a plateau or a budget ended it,
the record says which, and validation never judges a network by stale BatchNorm averages.
"""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from inceptionxml.train import TrainSettings, fit_loop, recalibrate_batchnorm


def _run(scores, **settings):
    """A linear model trained on noise, with the validation scores given in order (then the last one repeated)."""
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    x = torch.randn(64, 3)
    seen: list[float] = []
    lrs: list[float] = []

    def validate(model):
        value = scores[min(len(seen), len(scores) - 1)]
        seen.append(value)
        return {"p@1": value}

    def loss_fn(model, idx, epoch):
        return model(x[idx]).pow(2).mean()

    class RecordingAdam(torch.optim.Adam):
        def step(self, closure=None):  # record the learning rate of every optimiser step
            lrs.append(self.param_groups[0]["lr"])
            return super().step(closure)

    def optimizers(model):
        return [RecordingAdam(model.parameters(), lr=settings.get("lr", 0.1))]

    defaults = {"batch_size": 16, "schedule": "wsd", "warmup_epochs": 1.0, "min_delta": 0.01}
    result = fit_loop(
        net,
        n_train=64,
        loss_fn=loss_fn,
        validate=validate,
        settings=TrainSettings(**{**defaults, **settings}),
        device=torch.device("cpu"),
        optimizers=optimizers,
    )
    return result, lrs


def test_plateau_starts_a_cooldown_and_counts_as_converged():
    # Gains until epoch 4, then flat: patience 2 → plateau after epoch 6, cool-down 0.2/0.8·6 ≈ 2 epochs.
    result, lrs = _run([0.1, 0.2, 0.3, 0.4, 0.4, 0.4], epochs=50, patience=2, cooldown_frac=0.2, lr=0.1)
    assert result.stop_reason == "plateau" and result.converged is True
    assert result.schedule["cooldown_start_epoch"] == 6 and result.epochs_run == 8
    steps = 4  # per epoch
    assert lrs[:steps] == pytest.approx([0.1 * (i + 1) / steps for i in range(steps)])  # linear warm-up
    assert lrs[6 * steps - 1] == pytest.approx(0.1)  # stable until the plateau
    assert lrs[-1] < 0.1 / 4
    assert all(a >= b for a, b in zip(lrs[6 * steps :], lrs[6 * steps + 1 :], strict=False))  # decays to ~0


def test_an_epoch_budget_cools_down_before_it_ends_and_is_not_converged():
    result, lrs = _run([0.1 * i for i in range(1, 30)], epochs=10, patience=3, cooldown_frac=0.2, lr=0.1)
    assert result.stop_reason == "max_epochs" and result.converged is False
    assert result.epochs_run == 10 and result.schedule["cooldown_start_epoch"] == 8  # the last 2 of 10 epochs
    assert lrs[-1] < 0.1 / 4  # annealed, not cut at the peak


def test_a_step_budget_ends_training_at_that_step():
    result, lrs = _run([0.1 * i for i in range(1, 30)], epochs=100, max_steps=18, patience=3)
    assert result.stop_reason == "max_steps" and result.converged is False
    assert len(lrs) == 18 and result.epochs_run == 5  # 4 + 4 + 4 + 4 + 2 steps


def test_a_time_budget_is_planned_from_measured_epoch_times(monkeypatch):
    clock = iter(range(0, 10_000, 10))  # every reading of the clock advances 10 "seconds"
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    result, _ = _run([0.1 * i for i in range(1, 200)], epochs=1000, time_budget_s=2000.0, patience=3)
    assert result.stop_reason == "time_budget" and result.converged is False
    assert result.epochs_run < 1000 and result.schedule["cooldown_start_epoch"] is not None


def test_a_budget_reached_after_the_metric_plateaued_still_counts_as_converged():
    result, _ = _run([0.5, 0.5, 0.5, 0.5, 0.5], epochs=3, patience=2, schedule="onecycle")
    assert result.stop_reason == "plateau" and result.converged is True


def test_the_paper_schedule_runs_its_fixed_length_and_says_it_did_not_plateau():
    result, _ = _run([0.1 * i for i in range(1, 30)], epochs=5, patience=None, schedule="onecycle")
    assert result.epochs_run == 5 and result.stop_reason == "max_epochs" and result.converged is False


def test_every_epoch_of_a_small_dataset_is_not_validated():
    # 4 steps per epoch, eval_every None: validate every ceil(12/4) = 3 epochs (and the last).
    result, _ = _run([0.1 * i for i in range(1, 30)], epochs=7, eval_every=None, eval_min_steps=12, patience=None)
    validated = [int(h["epoch"]) for h in result.history if "val_p@1" in h]
    assert validated == [3, 6, 7]


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.drop = nn.Dropout(0.5)
        self.norm = nn.BatchNorm1d(3)

    def forward(self, x):
        return self.norm(self.drop(self.linear(x)))


def test_batchnorm_statistics_are_recomputed_on_the_given_rows_without_dropout():
    torch.manual_seed(0)
    net = _Tiny()
    x = torch.randn(96, 4) * 3 + 1
    net.norm.running_mean.fill_(1e3)  # stale averages, as after fast-moving training
    net.norm.running_var.fill_(2381.0)
    net.train()
    batches = list(torch.arange(96).split(32))
    assert recalibrate_batchnorm(net, lambda idx: net(x[idx]), batches, torch.device("cpu"))
    with torch.no_grad():
        z = net.linear(x)  # dropout off: the activations inference sees
    # The median over the batches of each batch's mean and unbiased variance.
    torch.testing.assert_close(net.norm.running_mean, torch.stack([z[b].mean(0) for b in batches]).median(0).values)
    expected_var = torch.stack([z[b].var(0, unbiased=True) for b in batches]).median(0).values
    torch.testing.assert_close(net.norm.running_var, expected_var)
    assert net.training and net.drop.training and net.norm.momentum == 0.1  # modes and momentum restored


def test_one_extreme_row_does_not_set_the_batchnorm_statistics():
    """A title that drives a channel to 10⁴ (repeated words in the cubic attention) must not silence the channel."""
    torch.manual_seed(0)
    net = _Tiny()
    x = torch.randn(160, 4)
    x[7] = 1e4  # one outlier row in the first of five batches
    batches = list(torch.arange(160).split(32))
    recalibrate_batchnorm(net, lambda idx: net(x[idx]), batches, torch.device("cpu"))
    with torch.no_grad():
        clean = net.linear(x[32:])
    # the statistics of the clean rows, within batch-to-batch noise; the mean over batches would be ~10⁶ times larger
    assert torch.all(net.norm.running_var < 3 * clean.var(0))
    assert torch.all((net.norm.running_mean - clean.mean(0)).abs() < clean.std(0))


def test_validation_sees_recomputed_statistics():
    torch.manual_seed(0)
    net = _Tiny()
    x = torch.randn(64, 4)
    means: list[torch.Tensor] = []

    def validate(model):
        means.append(model.norm.running_mean.clone())
        return {"p@1": 0.5}

    fit_loop(
        net,
        n_train=64,
        loss_fn=lambda m, idx, epoch: m(x[idx]).pow(2).mean(),
        validate=validate,
        # one batch of all 64 rows, so the recomputed statistics are exactly those of x
        settings=TrainSettings(epochs=2, batch_size=64, schedule="wsd", bn_recalibration_rows=64),
        device=torch.device("cpu"),
    )
    # Epoch 2 did not improve, so epoch 1's weights come back, with the statistics recomputed for them.
    with torch.no_grad():
        torch.testing.assert_close(means[0], net.linear(x).mean(0))
    torch.testing.assert_close(net.norm.running_mean, means[0])


@pytest.mark.parametrize("name", ["inceptionxml", "syncxml", "lightxml"])
def test_every_neural_model_reports_why_it_stopped_and_the_schedule_it_ran(synthetic, name):
    from harness.models import model_registry
    from harness.models.contract import FitContext

    train, val, _ = synthetic
    cls = model_registry.get(name)
    events: list[dict] = []
    model = cls(**{**cls.tiny_config(), "epochs": 4, "patience": 50, "eval_every": 1})
    report = model.fit(train, val, ctx=FitContext(num_labels=train.Y.shape[1], on_progress=events.append))
    assert report.stop_reason == "max_epochs" and report.converged is False  # patience 50 never runs out
    assert report.schedule["schedule"] == "wsd" and report.schedule["cooldown_start_epoch"] is not None
    assert [int(h["epoch"]) for h in report.history] == [1, 2, 3, 4]
    assert all("val_p@1" in h and "lr" in h for h in report.history)
    # Live progress: one event per epoch at least, with the validation P@1 once it exists.
    epochs = [e for e in events if e.get("phase") == "train" and e.get("step") == e.get("steps")]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4] and epochs[-1]["val_p@1"] is not None
    assert model.card().config["fit"]["stop_reason"] == "max_epochs"  # the saved card says it too


def test_impossible_budgets_are_refused_before_training():
    from harness.errors import HarnessError
    from inceptionxml.config import InceptionXMLConfig

    for bad in ({"lr": 0.0}, {"time_budget_s": 0}, {"max_steps": 0}, {"patience": 0}, {"schedule": "cosine"}):
        with pytest.raises(HarnessError):
            InceptionXMLConfig(**bad)


def test_gradient_clipping_is_counted_per_epoch():
    """With grad_clip the history says how large the gradients got and how often they were clipped."""
    result, _ = _run([0.1 * i for i in range(1, 30)], epochs=3, grad_clip=1e-6)
    assert [h["clipped_frac"] for h in result.history] == [1.0, 1.0, 1.0]  # every step is over a tiny limit
    assert all(h["grad_norm_max"] > 1e-6 for h in result.history)
    result, _ = _run([0.1 * i for i in range(1, 30)], epochs=3, grad_clip=1e6)
    assert [h["clipped_frac"] for h in result.history] == [0.0, 0.0, 0.0]
    result, _ = _run([0.1 * i for i in range(1, 30)], epochs=3)
    assert "clipped_frac" not in result.history[0]
