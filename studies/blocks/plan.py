"""Training side of study ``blocks``: data, the plan of a network's case, and the heatmap case."""

from __future__ import annotations

import io
from functools import partial

import torch
import torch.nn.functional as F

import models
from harness.context import RunContext
from harness.errors import BenchError
from harness.fileio import atomic_write_bytes
from harness.lifecycle import CasePlan, Finished, Splits, judge, new_record, recorded, save_arrays
from harness.mnist import mnist_splits
from harness.records import RecordError, ResultRecord, read_record, record_path
from harness.settings import Budget, InputPrep
from harness.train import ClassificationTask, DeviceData, prepare_model
from studies.blocks import (
    HEATMAP_ID,
    LR,
    NAME,
    NETWORKS,
    PAD,
    PROFILES,
    REFERENCE,
    WRITEUP_BATCH,
    BlocksCase,
    BlocksSettings,
)


def data(ctx: RunContext, settings: BlocksSettings) -> Splits:
    (train_x, train_y), (test_x, test_y) = mnist_splits(ctx)
    if settings.train_images is not None and settings.train_images < len(train_y):
        keep = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(ctx.seed))[: settings.train_images]
        train_x, train_y = train_x[keep], train_y[keep]
    test = DeviceData.create(test_x, test_y, ctx.device, prep=InputPrep(pad=PAD))
    return Splits(DeviceData.create(train_x, train_y, ctx.device, prep=InputPrep(pad=PAD)), test, test)


def weights_path(ctx: RunContext, network: str):
    return ctx.results_dir / NAME / "weights" / f"{network}-seed{ctx.seed}.pt"


def score(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict:
    return {
        "test_acc": ClassificationTask.correct(outputs, labels).item() / len(labels),
        "test_loss": ClassificationTask.loss(outputs, labels).item(),
    }


def save_weights(done: Finished) -> None:
    """The trained weights beside the record: the heatmap case loads them."""
    path = weights_path(done.ctx, done.record.case_id)
    buffer = io.BytesIO()
    torch.save(done.model.state_dict(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    done.record.artifacts["weights"] = str(path.relative_to(done.ctx.results_dir / NAME))
    done.record.model["conv_depth"] = done.model.conv_depth


def plan(case: BlocksCase, ctx: RunContext, settings: BlocksSettings | None = None) -> CasePlan:
    settings = settings or PROFILES[ctx.profile]
    return CasePlan(
        study=NAME,
        case_id=case.id,
        params=case.params(),
        budget=Budget(epochs=settings.epochs, batch_size=WRITEUP_BATCH[case.network], lr=LR),
        thresholds=settings.thresholds.get(case.network, {}),
        timing=settings.timing,
        model=case.network,
        load_data=partial(data, ctx, settings),
        task=ClassificationTask,
        score=score,
        measure_memory=True,
        finish=save_weights,
    )


# --- integrated gradients -----------------------------------------------------------------

IG_STEPS = 64
# Completeness: attributions must sum to f(x) - f(baseline) within this share of that gap
# (recorded as ig_completeness = 1 - worst relative error, asserted as a minimum).
# Measured relative errors at 64 steps: see docs/thresholds.md.
IG_MAX_RELATIVE_DELTA = 0.05


def _trained(ctx: RunContext, network: str) -> tuple[ResultRecord, torch.nn.Module]:
    try:
        record = read_record(record_path(ctx.results_dir, NAME, network, ctx.seed))
    except RecordError:
        raise BenchError(
            f"no record for {network} in {ctx.results_dir / NAME}; run `pytest benchmarks -m blocks` first"
        ) from None
    path = ctx.results_dir / NAME / record.artifacts.get("weights", "missing")
    if record.status != "passed" or not path.is_file() or record.seed != ctx.seed:
        raise BenchError(f"{network} has no passed run with weights for seed {ctx.seed} in {ctx.results_dir / NAME}")
    model = models.create(network)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return record, prepare_model(model, ctx.device).eval()


def best_block(ctx: RunContext) -> str:
    scores = {}
    for network in NETWORKS:
        try:
            record = read_record(record_path(ctx.results_dir, NAME, network, ctx.seed))
        except RecordError:
            continue
        if record.status == "passed" and record.seed == ctx.seed:
            scores[network] = record.metrics["test_acc"]
    if not scores:
        raise BenchError(
            f"no passed block network for seed {ctx.seed} in {ctx.results_dir / NAME}; run `pytest benchmarks "
            "-m blocks` first"
        )
    return max(scores, key=scores.get)


def run_heatmaps(ctx: RunContext) -> ResultRecord:
    """Integrated gradients (captum) of the best block network and the reference CNN on one
    test digit per class (the first of each class in MNIST's test order), black-image baseline."""
    from captum.attr import IntegratedGradients

    settings = PROFILES[ctx.profile]
    record = new_record(
        NAME, HEATMAP_ID, {}, ctx, thresholds={"ig_completeness": 1.0 - IG_MAX_RELATIVE_DELTA}, budget=Budget(0, 0, 0.0)
    )
    with recorded(record, ctx.results_dir):
        best = best_block(ctx)
        record.params = {
            "networks": [best, REFERENCE],
            "baseline": "black image (all pixels 0)",
            "n_steps": IG_STEPS,
            "digits": "first test image of each class",
        }
        test = data(ctx, settings).test
        first = torch.stack([(test.labels == c).nonzero()[0, 0] for c in range(10)])
        x, y = test.batch(first, ctx.device)
        black, _ = DeviceData(torch.zeros_like(test.images[:10]), y, test.prep).batch(
            torch.arange(10, device=ctx.device), ctx.device
        )
        arrays = {"images": F.pad(test.images[first], (PAD,) * 4).cpu().numpy(), "labels": y.cpu().numpy()}
        deltas = {}
        for network in (best, REFERENCE):
            _, model = _trained(ctx, network)
            ig = IntegratedGradients(model)
            attributions, delta = ig.attribute(
                x, baselines=black, target=y, n_steps=IG_STEPS, return_convergence_delta=True
            )
            with torch.no_grad():
                logits, base = model(x), model(black)
            gap = (logits.gather(1, y[:, None]) - base.gather(1, y[:, None])).squeeze(1)
            deltas[network] = (delta.abs() / gap.abs().clamp_min(1e-6)).max().item()
            arrays[f"attr_{network}"] = attributions.squeeze(1).detach().cpu().numpy()
            arrays[f"pred_{network}"] = logits.argmax(1).cpu().numpy()
        save_arrays(record, ctx.results_dir, "attributions", HEATMAP_ID, **arrays)
        record.metrics.update({f"ig_relative_delta_{k}": v for k, v in deltas.items()})
        record.metrics["ig_completeness"] = 1.0 - max(deltas.values())
        judge(record)
    return record
