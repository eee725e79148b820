"""The training harness: thresholds that a broken model fails, CPU determinism, divergence."""
from dataclasses import replace

import pytest
import torch

import models
from harness.case import check_passed
from harness.errors import Diverged
from harness.train import Budget, DeviceData, evaluate, fit, prepare_model, train_one_epoch
from studies import blocks, sbh

SMOKE = sbh.PROFILES["smoke"]
THRESHOLD = SMOKE.thresholds["seed001/resnet18"]["acc_all_heads"]
# The lowest bar any sbh smoke case must clear, calibrated or the floor of uncalibrated groups.
LOWEST_BAR = min([sbh.UNCALIBRATED_FLOOR["acc_all_heads"], *(t["acc_all_heads"] for t in SMOKE.thresholds.values())])
CASE = sbh.SbhCase(sbh.SEED001_DIGITS, "arch2", "resnet18")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def d012(run_context, mnist_root):
    return sbh.task_data(CASE, run_context, SMOKE)


@pytest.mark.parametrize("structure", models.list_models(family="sbh"))
def test_untrained_model_fails_the_smoke_threshold(structure, d012, run_context):
    torch.manual_seed(0)
    model = prepare_model(models.create(structure, backbone="resnet18"), run_context.device)
    _, test = d012
    logits = evaluate(model, test, batch_size=1024, device=run_context.device)
    assert sbh.metrics(logits, test.labels)["acc_all_heads"] < LOWEST_BAR <= THRESHOLD


def test_model_trained_on_shuffled_labels_fails_the_smoke_threshold(d012, run_context):
    train, test = d012
    shuffled = DeviceData(train.images, train.labels[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))])
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = prepare_model(models.create("arch2", backbone="resnet18"), run_context.device)
    _, logits = fit(model, shuffled, test, sbh.SbhTask, SMOKE.budget, device=run_context.device, generator=generator)
    assert sbh.metrics(logits, test.labels)["acc_all_heads"] < THRESHOLD


def test_same_seed_on_the_cpu_gives_identical_metrics(run_context, mnist_root, tmp_path):
    tiny = replace(SMOKE, train_images=256, timing_rounds=1)
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.SEED001_DIGITS, "arch3", "resnet18")
    first = sbh.run_case(case, ctx, profile=tiny)
    second = sbh.run_case(case, ctx, profile=tiny)
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
        return sbh.SbhTask.loss(outputs, labels) * scale

    correct = staticmethod(sbh.SbhTask.correct)


def test_non_finite_loss_stops_with_epoch_and_step():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    wrapped = _DictOut(model)
    data = DeviceData(torch.randint(0, 255, (64, 4, 4), dtype=torch.uint8), torch.randint(0, 3, (64,)))
    optimizer = torch.optim.Adam(wrapped.parameters(), lr=1e-3)
    with pytest.raises(Diverged, match=r"loss became inf in epoch 1 at or before step 3/8"):
        train_one_epoch(wrapped, optimizer, data, _ExplodingTask(), batch_size=8, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"), epoch=1)


class _DictOut(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return {"abc": self.net(x)}


def test_budget_is_frozen():
    with pytest.raises(Exception):
        Budget(1, 2, 3.0).epochs = 5  # type: ignore[misc]


def test_huge_learning_rate_is_recorded_as_diverged(run_context, mnist_root, tmp_path):
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.SEED001_DIGITS, "arch2", "resnet18", lr=1e20)
    record = sbh.run_case(case, ctx, profile=replace(SMOKE, train_images=128, timing_rounds=1))
    assert record.status == "diverged"
    assert record.error.startswith("loss became nan in epoch 1 at or before step")
    with pytest.raises(pytest.fail.Exception, match=r"d012-lr1e20-arch2-resnet18 \[diverged\] loss became nan in epoch 1"):
        check_passed(record)
    assert (tmp_path / "sbh" / f"{case.id}-seed0.json").is_file()


@pytest.mark.parametrize("network", [case.network for case in blocks.cases()])
def test_untrained_block_network_fails_its_threshold(network, run_context, mnist_root):
    profile = blocks.PROFILES["smoke"]
    _, test = blocks.data(run_context, profile)
    torch.manual_seed(0)
    model = prepare_model(models.create(network), run_context.device)
    logits = evaluate(model, test, batch_size=1024, device=run_context.device)
    assert (logits["logits"].argmax(1) == test.labels).float().mean().item() < profile.thresholds[network]["test_acc"]
