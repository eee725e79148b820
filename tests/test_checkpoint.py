"""A case stopped mid-training and run again with --skip-done goes on from its saved epoch and
ends exactly where an uninterrupted run ends (CPU, same thread count and code)."""

from dataclasses import replace

import pytest
import torch

import harness.checkpoint
import harness.train
from fakes import run_training
from harness.checkpoint import EpochCheckpoint, checkpoint_path
from harness.settings import Budget, InputPrep, TimingRounds
from harness.train import ClassificationTask, DeviceData, fit
from studies import sbh
from studies.sbh.plan import plan

CPU = torch.device("cpu")
# Random shifts and dropout draw from the global generator, the batch order from its own:
# a resumed run must restore both to match.
SHIFTED = InputPrep(shift=1)


def _data(n: int, seed: int) -> DeviceData:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=generator)
    images = (labels.view(-1, 1, 1) * 60 + torch.randint(0, 90, (n, 6, 6), generator=generator)).to(torch.uint8)
    return DeviceData(images, labels, SHIFTED)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Flatten(),
        torch.nn.Linear(144, 3),
    )


def _fit(budget: Budget, checkpoint=None):
    model = _model()
    history, logits = fit(
        model,
        _data(192, 1),
        _data(64, 2),
        ClassificationTask(),
        budget,
        device=CPU,
        generator=torch.Generator().manual_seed(0),
        checkpoint=checkpoint,
    )
    return model, history, logits


def _stop_at_epoch(monkeypatch, stop: int) -> None:
    """Ctrl-C during epoch ``stop``'s training, after epochs 1 .. stop-1 finished."""
    real = harness.train.train_one_epoch

    def interrupted(*args, epoch, **kwargs):
        if epoch == stop:
            raise KeyboardInterrupt
        return real(*args, epoch=epoch, **kwargs)

    monkeypatch.setattr(harness.train, "train_one_epoch", interrupted)


def _without_times(history):
    return [replace(entry, elapsed_s=0.0) for entry in history]


BUDGETS = {
    "fixed epochs": Budget(epochs=5, batch_size=16, lr=1e-2),
    "early stopping and plateau": Budget(
        epochs=12, batch_size=16, lr=5e-2, optimizer="adamw", patience=2, monitor="loss", plateau=True
    ),
}


@pytest.mark.parametrize("budget", BUDGETS.values(), ids=BUDGETS.keys())
@pytest.mark.parametrize("stop", [2, 4])
def test_a_resumed_fit_ends_where_an_uninterrupted_one_ends(budget, stop, tmp_path, monkeypatch):
    model, history, logits = _fit(budget)

    checkpoint = EpochCheckpoint(tmp_path / "state.pt", {"case": "toy"}, save_every_s=0)
    with monkeypatch.context() as patch:
        _stop_at_epoch(patch, stop)
        with pytest.raises(KeyboardInterrupt):
            _fit(budget, checkpoint)
    assert checkpoint.path.is_file()

    again = EpochCheckpoint(tmp_path / "state.pt", {"case": "toy"}, save_every_s=0)
    resumed_model, resumed_history, resumed_logits = _fit(budget, again)
    assert again.resumed_after == min(stop - 1, len(history))
    assert _without_times(resumed_history) == _without_times(history)
    assert torch.equal(resumed_logits["logits"], logits["logits"])
    for (name, value), resumed in zip(model.state_dict().items(), resumed_model.state_dict().values(), strict=True):
        assert torch.equal(value, resumed), name


def test_a_state_saved_for_another_run_is_ignored(tmp_path, monkeypatch):
    budget = BUDGETS["fixed epochs"]
    with monkeypatch.context() as patch:
        _stop_at_epoch(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            _fit(budget, EpochCheckpoint(tmp_path / "state.pt", {"case": "toy", "seed": 0}, save_every_s=0))
    other = EpochCheckpoint(tmp_path / "state.pt", {"case": "toy", "seed": 1}, save_every_s=0)
    _, history, _ = _fit(budget, other)
    assert other.resumed_after is None and len(history) == 5


def test_saving_waits_for_the_interval_but_never_skips_the_last_epoch(tmp_path):
    checkpoint = EpochCheckpoint(tmp_path / "state.pt", {}, save_every_s=3600)
    assert not checkpoint.due(final=False)
    assert checkpoint.due(final=True)


@pytest.mark.slow
def test_an_interrupted_case_resumes_under_skip_done_and_cleans_up(run_context, mnist_root, tmp_path, monkeypatch):
    """Through the runner: the stopped case leaves only its state (no record), the rerun
    resumes after epoch 1, says so in its record, scores what an uninterrupted run scores, and
    leaves no state behind."""
    monkeypatch.setattr(harness.checkpoint, "SAVE_EVERY_S", 0.0)
    smoke = sbh.PROFILES["smoke"]
    two_epochs = replace(
        smoke, budget=replace(smoke.budget, epochs=2, min_steps=0), train_images=128, timing=TimingRounds(1)
    )
    case = sbh.SbhCase(sbh.WRITEUP001_DIGITS, "arch2", "resnet18")
    straight_ctx = replace(run_context, device=CPU, results_dir=tmp_path / "straight", _cache=run_context._cache)
    straight = run_training(plan(case, straight_ctx, two_epochs), straight_ctx)

    ctx = replace(straight_ctx, results_dir=tmp_path / "resumed", skip_done=True)
    with monkeypatch.context() as patch:
        _stop_at_epoch(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            run_training(plan(case, ctx, two_epochs), ctx)
    state = checkpoint_path(ctx.results_dir, "sbh", case.id, 0)
    assert [p for p in ctx.results_dir.rglob("*") if p.is_file()] == [state]

    resumed = run_training(plan(case, ctx, two_epochs), ctx)
    assert resumed.environment["resumed_after_epoch"] == 1
    assert "resumed_after_epoch" not in straight.environment
    scored = {k: v for k, v in straight.metrics.items() if k.startswith("acc") or k.endswith("loss")}
    assert scored == {k: resumed.metrics[k] for k in scored}
    assert not (ctx.results_dir / ".resume").exists()
