"""The training harness: thresholds that a broken model fails, CPU determinism, divergence."""

from dataclasses import FrozenInstanceError, replace

import pytest
import torch

import models
from fakes import run_training
from harness.errors import CaseFailed, CaseSkipped, Diverged
from harness.precision import native_bf16, resolve_precision
from harness.records import read_record
from harness.runner import check_passed
from harness.settings import Budget, TimingRounds
from harness.train import DeviceData, epochs_for, evaluate, fit, prepare_model, train_one_epoch
from studies import blocks, sbh
from studies.blocks.plan import data as blocks_data
from studies.sbh.plan import SbhTask, metrics, plan, task_data

SMOKE = sbh.PROFILES["smoke"]
# The smoke budget on a few images, one epoch: min_steps would otherwise stretch a 64-image
# subset to 48 epochs, each evaluated on the whole test split.
ONE_EPOCH = replace(SMOKE.budget, min_steps=0)
THRESHOLD = SMOKE.thresholds["writeup001/resnet18"]["acc_all_heads"]
# The lowest bar any sbh smoke case must clear, calibrated or the floor of uncalibrated groups.
LOWEST_BAR = min([sbh.UNCALIBRATED_FLOOR["acc_all_heads"], *(t["acc_all_heads"] for t in SMOKE.thresholds.values())])
CASE = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def d012(run_context, mnist_root):
    splits = task_data(CASE, run_context, SMOKE)
    return splits.train, splits.test


def _precision(name: str, device: torch.device):
    """fp32, or bf16 where ``auto`` would pick it (elsewhere bf16 is emulated, slow, and not what runs)."""
    if name == "bf16" and native_bf16(device) is None:
        pytest.skip(f"no native bf16 on this {device.type}: auto runs fp32 here, which the fp32 case covers")
    return resolve_precision(name, device)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("structure", models.list_models(family="sbh"))
def test_untrained_model_fails_the_smoke_threshold(structure, precision, d012, run_context):
    chosen = _precision(precision, run_context.device)
    torch.manual_seed(0)
    model = prepare_model(models.create(structure, backbone="resnet18"), run_context.device)
    _, test = d012
    logits = evaluate(model, test, batch_size=1024, device=run_context.device, precision=chosen)
    assert metrics(SbhTask(), logits, test.labels)["acc_all_heads"] < LOWEST_BAR <= THRESHOLD


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_model_trained_on_shuffled_labels_fails_the_smoke_threshold(precision, d012, run_context):
    chosen = _precision(precision, run_context.device)
    train, test = d012
    shuffled = DeviceData(
        train.images, train.labels[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))]
    )
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = prepare_model(models.create("arch2", backbone="resnet18"), run_context.device)
    _, logits = fit(
        model, shuffled, test, SbhTask(), SMOKE.budget, device=run_context.device, generator=generator, precision=chosen
    )
    assert metrics(SbhTask(), logits, test.labels)["acc_all_heads"] < THRESHOLD


def test_same_seed_on_the_cpu_gives_identical_metrics(run_context, mnist_root, tmp_path):
    tiny = replace(SMOKE, budget=ONE_EPOCH, train_images=256, timing=TimingRounds(1))
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch3", "resnet18")
    first = run_training(plan(case, ctx, tiny), ctx)
    second = run_training(plan(case, ctx, tiny), ctx)
    accuracy = {k: v for k, v in first.metrics.items() if k.startswith("acc") or k.endswith("loss")}
    assert accuracy == {k: second.metrics[k] for k in accuracy}
    assert [c["train_loss"] for c in first.curves] == [c["train_loss"] for c in second.curves]
    expected = resolve_precision(ctx.precision, ctx.device, model="arch3")
    assert first.environment["precision"] == expected.as_record()


class _ExplodingTask:
    """Finite for two steps, then infinite: stands in for a learning rate that blows up."""

    def __init__(self):
        self.calls = 0

    def loss(self, outputs, labels):
        self.calls += 1
        scale = 1.0 if self.calls <= 2 else float("inf")
        return SbhTask().loss(outputs, labels) * scale

    correct = staticmethod(SbhTask().correct)


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


def _toy_data(n: int, seed: int) -> DeviceData:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=generator)
    images = (labels.view(-1, 1, 1) * 60 + torch.randint(0, 90, (n, 4, 4), generator=generator)).to(torch.uint8)
    return DeviceData(images, labels)


@pytest.mark.parametrize("monitor", ["accuracy", "loss"])
def test_early_stopping_restores_the_best_epoch_and_stops_after_patience(monitor):
    torch.manual_seed(0)
    model = _DictOut(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3)))
    train, val = _toy_data(256, 1), _toy_data(64, 2)
    budget = Budget(epochs=40, batch_size=16, lr=3e-2, optimizer="adamw", patience=3, monitor=monitor)
    history, logits = fit(
        model, train, val, SbhTask(), budget, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0)
    )
    best = [h for h in history if h.best]
    assert len(best) == 1
    value = (lambda h: h.eval_acc) if monitor == "accuracy" else (lambda h: -h.eval_loss)
    assert value(best[0]) == max(value(h) for h in history)
    assert len(history) == 40 or len(history) - best[0].epoch == budget.patience
    again = evaluate(model, val, batch_size=64, device=torch.device("cpu"))
    assert torch.equal(again["abc"], logits["abc"])
    assert SbhTask().correct(logits, val.labels).item() / len(val) == best[0].eval_acc


def test_min_steps_raises_the_epochs_of_a_small_subset():
    budget = Budget(epochs=1, batch_size=32, lr=1e-4, min_steps=96)
    assert epochs_for(budget, 3072) == 1 and epochs_for(budget, 110) == 32 and epochs_for(budget, 1175) == 3


def test_budget_is_frozen():
    with pytest.raises(FrozenInstanceError):
        Budget(1, 2, 3.0).epochs = 5  # type: ignore[misc]


def test_huge_learning_rate_is_recorded_as_diverged(run_context, mnist_root, tmp_path):
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18", lr=1e20)
    record = run_training(
        plan(case, ctx, replace(SMOKE, budget=ONE_EPOCH, train_images=128, timing=TimingRounds(1))), ctx
    )
    assert record.status == "diverged"
    assert record.error.startswith("loss became nan in epoch 1 at or before step")
    with pytest.raises(CaseFailed, match=r"d012-lr1e20-arch2-resnet18 \[diverged\] loss became nan in epoch 1"):
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

    tiny = replace(SMOKE, budget=ONE_EPOCH, train_images=64, timing=TimingRounds(1))
    case_plan = replace(plan(case, ctx, tiny), score=broken_metrics)
    record = run_training(case_plan, ctx)
    assert record.status == "error" and record.error == "ZeroDivisionError: planted"
    assert "in broken_metrics" in record.traceback and record.traceback.rstrip().endswith("ZeroDivisionError: planted")
    assert 0 < len(record.traceback) <= 4000
    assert read_record(tmp_path / "sbh" / f"{case.id}-seed0.json").traceback == record.traceback


def test_a_case_stopped_after_scoring_leaves_no_file(run_context, mnist_root, tmp_path):
    """Stopped (Ctrl-C, a killed lane) after the test set was scored: neither a record nor the
    predictions beside it are on disk, so --skip-done reruns the case and no report reads a half."""
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, _cache=run_context._cache)
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18")

    def stopped(finished):
        raise KeyboardInterrupt

    tiny = replace(SMOKE, budget=ONE_EPOCH, train_images=64, timing=TimingRounds(1))
    with pytest.raises(KeyboardInterrupt):
        run_training(replace(plan(case, ctx, tiny), finish=stopped), ctx)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_writeup_protocol_runs_end_to_end_on_a_tiny_subset(run_context, mnist_root, tmp_path):
    """The authors' protocol on 320 images: AdamW, a seeded 10 % validation split, early
    stopping on experiment 1's metric, the best epoch tested, softmax before the loss."""
    writeup = sbh.PROFILES["writeup"]
    tiny = replace(
        writeup, train_images=320, budget=replace(writeup.budget, epochs=3, patience=1), timing=TimingRounds(1)
    )
    ctx = replace(
        run_context,
        device=torch.device("cpu"),
        results_dir=tmp_path,
        profile="writeup",
        weights="none",
        _cache=run_context._cache,
    )
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch3", "resnet18", selection="mean_heads")
    record = run_training(plan(case, ctx, tiny), ctx)
    assert record.status in ("passed", "failed"), record.error
    assert record.params["loss_on"] == "softmax" and record.params["weights"] == "none"
    assert record.params["selection"] == "acc_mean_heads" and record.thresholds == tiny.thresholds[case.group]
    assert record.budget["optimizer"] == "adamw" and record.budget["train_images"] == 288
    assert 1 <= record.metrics["best_epoch"] <= record.budget["epochs_trained"] <= 3
    assert sum(c["best"] for c in record.curves) == 1
    assert record.metrics["latency_b32_s"] > 0


def test_writeup_profile_without_imagenet_weights_skips_naming_the_file(run_context, mnist_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args, **kwargs):
        raise OSError("no network here")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    ctx = replace(run_context, device=torch.device("cpu"), results_dir=tmp_path, profile="writeup", weights="auto")
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18")
    with pytest.raises(CaseSkipped, match=r"place resnet18-f37072fd\.pth .* at .*torch/hub/checkpoints"):
        run_training(plan(case, ctx), ctx)
