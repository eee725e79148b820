"""Training side of study ``emnist``: data splits, the data case and the plan of a training case."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

import models
from harness.context import RunContext
from harness.emnist import load_emnist, require_emnist, train_valid_split
from harness.precision import FP32, Precision
from harness.records import ResultRecord, save_arrays
from harness.runner import Job
from harness.runtime import timed
from harness.settings import Budget
from harness.train import ClassificationTask, DeviceData
from harness.training import CasePlan, Finished, Splits
from studies.emnist import DATA_ID, LATENCY_RUNS, NAME, NUM_CLASSES, PROFILES, EmnistCase, EmnistSettings, epochs_for


def splits(ctx: RunContext, settings: EmnistSettings):
    """(train, valid, test) as uint8 images + labels (CPU tensors), and the class names; cached per session."""
    root = require_emnist(ctx.data_root)

    def load():
        images, labels, classes = load_emnist(root, train=True)
        train_idx, valid_idx = train_valid_split(len(labels), seed=0)  # fixed: every case sees the same split
        if settings.train_images is not None:
            train_idx = train_idx[: settings.train_images]
        test_x, test_y, _ = load_emnist(root, train=False)
        return (images[train_idx], labels[train_idx]), (images[valid_idx], labels[valid_idx]), (test_x, test_y), classes

    return ctx.cached(("emnist", str(root), settings.train_images), load)


def top_k(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    return (logits.topk(min(k, logits.shape[1]), dim=1).indices == labels[:, None]).any(dim=1).double().mean().item()


def batch1_latency_ms(model, data: DeviceData, device: torch.device, precision: Precision = FP32) -> float:
    """Median wall time of one image through the model (the selection table's latency)."""
    x, _ = data.batch(torch.arange(1, device=device), device)
    times = []
    with torch.inference_mode(), precision.autocast(device, training=False):
        model.eval()
        model(x)  # warm-up, not timed
        for _ in range(LATENCY_RUNS):
            times.append(timed(device, lambda: model(x))[1])
    return float(np.median(times) * 1e3)


# --- cases ------------------------------------------------------------------------------


def data_job(ctx: RunContext, settings_name: str) -> Job:
    """Write-up 004's data exploration as a record: split sizes, class counts, one sample per class."""
    settings = PROFILES[settings_name]

    def measure(record: ResultRecord) -> None:
        (train_x, train_y), (_, valid_y), (_, test_y), classes = splits(ctx, settings)
        record.metrics.update(
            train_images=len(train_y), valid_images=len(valid_y), test_images=len(test_y), classes=len(classes)
        )
        record.params["class_names"] = classes
        record.params["class_counts"] = {
            split: torch.bincount(y, minlength=len(classes)).tolist()
            for split, y in (("train", train_y), ("valid", valid_y), ("test", test_y))
        }
        first = torch.stack(
            [
                (train_y == c).nonzero().flatten()[0] if (train_y == c).any() else torch.tensor(0)
                for c in range(len(classes))
            ]
        )
        save_arrays(
            record, ctx.results_dir, "samples", "samples", images=train_x[first].numpy(), labels=train_y[first].numpy()
        )

    return Job(NAME, DATA_ID, {"dataset": "EMNIST Balanced"}, Budget(0, 0, 0.0), thresholds={}, measure=measure)


def score(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict:
    logits = outputs["logits"]
    return {
        "test_acc": top_k(logits, labels, 1),
        "test_top5": top_k(logits, labels, 5),
        "test_loss": ClassificationTask.loss(outputs, labels).item(),
    }


def record_validation_and_latency(done: Finished) -> None:
    done.record.metrics.update(valid_acc=done.history[-1].eval_acc, valid_loss=done.history[-1].eval_loss)
    done.record.metrics["latency_ms"] = batch1_latency_ms(done.model, done.data.test, done.ctx.device, done.precision)
    done.record.budget["valid_images"] = len(done.data.eval)


def load_splits(case: EmnistCase, ctx: RunContext, settings: EmnistSettings) -> Splits:
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y), _ = splits(ctx, settings)
    return Splits(
        *(
            DeviceData.create(x, y, ctx.device, prep=case.prep)
            for x, y in ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))
        )
    )


def plan(case: EmnistCase, ctx: RunContext, settings_name: str | None = None) -> CasePlan:
    settings = PROFILES[settings_name or ctx.profile]
    return CasePlan(
        study=NAME,
        case_id=case.id,
        params={**case.params(), "threshold_source": settings.threshold_source},
        budget=Budget(epochs_for(case, settings), case.batch_size, case.lr, plateau=case.plateau),
        thresholds=settings.thresholds,
        timing=settings.timing,
        model=case.model,
        build=partial(models.create, case.model, num_classes=NUM_CLASSES, **case.build),
        description=models.describe(case.model),
        load_data=partial(load_splits, case, ctx, settings),
        task=ClassificationTask,
        score=score,
        finish=record_validation_and_latency,
    )
