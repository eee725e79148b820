"""The training harness: thresholds that a broken model fails, CPU determinism, divergence."""

from dataclasses import FrozenInstanceError, replace

import pytest
import torch

import models
from harness.errors import Diverged
from harness.lifecycle import check_passed, run_case
from harness.records import read_record
from harness.settings import Budget, TimingRounds
from harness.train import DeviceData, evaluate, fit, prepare_model, train_one_epoch
from studies import blocks, sbh
from studies.blocks.plan import data as blocks_data
from studies.sbh.plan import SbhTask, metrics, plan, task_data

SMOKE = sbh.PROFILES["smoke"]
THRESHOLD = SMOKE.thresholds["writeup001/resnet18"]["acc_all_heads"]
# The lowest bar any sbh smoke case must clear, calibrated or the floor of uncalibrated groups.
LOWEST_BAR = min([sbh.UNCALIBRATED_FLOOR["acc_all_heads"], *(t["acc_all_heads"] for t in SMOKE.thresholds.values())])
CASE = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def d012(run_context, mnist_root):
    splits = task_data(CASE, run_context, SMOKE)
    return splits.train, splits.test


@pytest.mark.parametrize("structure", models.list_models(family="sbh"))
def test_untrained_model_fails_the_smoke_threshold(structure, d012, run_context):
    torch.manual_seed(0)
    model = prepare_model(models.create(structure, backbone="resnet18"), run_context.device)
    _, test = d012
    logits = evaluate(model, test, batch_size=1024, device=run_context.device)
    assert metrics(logits, test.labels)["acc_all_heads"] < LOWEST_BAR <= THRESHOLD


def test_model_trained_on_shuffled_labels_fails_the_smoke_threshold(d012, run_context):
    train, test = d012
    shuffled = DeviceData(
        train.images, train.labels[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))]
    )
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = prepare_model(models.create("arch2", backbone="resnet18"), run_context.device)
    _, logits = fit(model, shuffled, test, SbhTask, SMOKE.budget, device=run_context.device, generator=generator)
    assert metrics(logits, test.labels)["acc_all_heads"] < THRESHOLD


def test_same_seed_on_the_cpu_gives_identical_metrics(run_context, mnist_root, tmp_path):
    tiny = replace(SMOKE, train_images=256, timing=TimingRounds(1))
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch3", "resnet18")
    first = run_case(plan(case, ctx, tiny), ctx)
    second = run_case(plan(case, ctx, tiny), ctx)
    accuracy = {k: v for k, v in first.metrics.items() if k.startswith("acc") or k.endswith("loss")}
    assert accuracy == {k: second.metrics[k] for k in accuracy}
    assert [c["train_loss"] for c in first.curves] == [c["train_loss"] for c in second.curves]


class _ExplodingTask:
    """Finite for two steps, then infinite: stands in for a learning rate that blows up."""

    def __init__(self):
        self.calls = 0

    def loss(self, outputs, labels):
        self.calls += 1
        scale = 1.0 if self.calls <= 2 else float("inf")
        return SbhTask.loss(outputs, labels) * scale

    correct = staticmethod(SbhTask.correct)


def test_non_finite_loss_stops_with_epoch_and_step():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    wrapped = _DictOut(model)
    data = DeviceData(torch.randint(0, 255, (64, 4, 4), dtype=torch.uint8), torch.randint(0, 3, (64,)))
    optimizer = torch.optim.Adam(wrapped.parameters(), lr=1e-3)
    with pytest.raises(Diverged, match=r"loss became inf in epoch 1 at or before step 3/8"):
        train_one_epoch(
            wrapped,
            optimizer,
            data,
            _ExplodingTask(),
            batch_size=8,
            generator=torch.Generator().manual_seed(0),
            device=torch.device("cpu"),
            epoch=1,
        )


class _DictOut(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return {"abc": self.net(x)}


def test_budget_is_frozen():
    with pytest.raises(FrozenInstanceError):
        Budget(1, 2, 3.0).epochs = 5  # type: ignore[misc]


def test_huge_learning_rate_is_recorded_as_diverged(run_context, mnist_root, tmp_path):
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18", lr=1e20)
    record = run_case(plan(case, ctx, replace(SMOKE, train_images=128, timing=TimingRounds(1))), ctx)
    assert record.status == "diverged"
    assert record.error.startswith("loss became nan in epoch 1 at or before step")
    with pytest.raises(
        pytest.fail.Exception, match=r"d012-lr1e20-arch2-resnet18 \[diverged\] loss became nan in epoch 1"
    ):
        check_passed(record)
    assert (tmp_path / "sbh" / f"{case.id}-seed0.json").is_file()


@pytest.mark.parametrize("network", [case.network for case in blocks.cases()])
def test_untrained_block_network_fails_its_threshold(network, run_context, mnist_root):
    profile = blocks.PROFILES["smoke"]
    test = blocks_data(run_context, profile).test
    torch.manual_seed(0)
    model = prepare_model(models.create(network), run_context.device)
    logits = evaluate(model, test, batch_size=1024, device=run_context.device)
    assert (logits["logits"].argmax(1) == test.labels).float().mean().item() < profile.thresholds[network]["test_acc"]


def test_an_error_record_keeps_its_traceback(run_context, mnist_root, tmp_path, monkeypatch):
    """An unexpected exception becomes an ``error`` record with a one-line message and the
    (bounded) traceback that names the raising frame."""
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18")

    def broken_metrics(outputs, labels):
        raise ZeroDivisionError("planted")

    case_plan = replace(plan(case, ctx, replace(SMOKE, train_images=64, timing=TimingRounds(1))), score=broken_metrics)
    record = run_case(case_plan, ctx)
    assert record.status == "error" and record.error == "ZeroDivisionError: planted"
    assert "in broken_metrics" in record.traceback and record.traceback.rstrip().endswith("ZeroDivisionError: planted")
    assert 0 < len(record.traceback) <= 4000
    assert read_record(tmp_path / "sbh" / f"{case.id}-seed0.json").traceback == record.traceback
