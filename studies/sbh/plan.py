"""Training side of study ``sbh``: labels of the heads, loss, metrics, data, and the plan of a case."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn.functional as F

import models
from harness.context import RunContext
from harness.errors import CaseSkipped
from harness.mnist import mnist_splits
from harness.settings import InputPrep
from harness.train import DeviceData
from harness.training import CasePlan, Splits
from studies.sbh import NAME, PROFILES, SbhCase, SbhSettings

# The authors' transform: ToTensor() then Normalize((0.5,), (0.5,)), 28x28.
INPUT = InputPrep(mean=0.5, std=0.5)
# Write-up 001's Fig. 3 times each test batch of 32 images.
LATENCY_BATCH = 32

# --- labels, loss and metrics -------------------------------------------------------------


def select_digits(
    images: torch.Tensor, labels: torch.Tensor, digits: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the images of ``digits``; relabel them 0, 1, 2 in the order given."""
    lookup = torch.full((10,), -1, dtype=torch.long)
    lookup[list(digits)] = torch.arange(len(digits))
    mapped = lookup[labels]
    keep = mapped >= 0
    return images[keep], mapped[keep]


def balanced_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Indices of a seeded subset with (as near as possible) equal images per class."""
    generator = torch.Generator().manual_seed(seed)
    classes = labels.unique().tolist()
    per_class = [size // len(classes) + (i < size % len(classes)) for i in range(len(classes))]
    picks = []
    for cls, n in zip(classes, per_class, strict=True):
        members = (labels == cls).nonzero().flatten()
        if n > len(members):
            raise ValueError(f"train size {size} needs {n} images of class {cls}, only {len(members)} exist")
        picks.append(members[torch.randperm(len(members), generator=generator)[:n]])
    return torch.cat(picks).sort().values


def head_targets(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Targets of each head (studies.sbh.HEAD_GROUPS): A is 1 for {c}, B is 1 for {b}."""
    return {"abc": labels, "a": (labels == 2).long(), "b": (labels == 1).long()}


def decode(outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """3-class prediction; -1 where the split heads agree on no class (A says c, B says b)."""
    if "abc" in outputs:
        return outputs["abc"].argmax(dim=1)
    a, b = outputs["a"].argmax(dim=1), outputs["b"].argmax(dim=1)
    return torch.where(a == 1, torch.where(b == 1, -1, 2), b)


@dataclass(frozen=True)
class SbhTask:
    """Cross-entropy per head, summed, on logits or (``softmax``, the authors' code) on softmax
    outputs; ``correct`` counts what the case's selected accuracy counts: images whose decoded
    class is right (``all_heads``), or the mean over heads of right head answers (``mean_heads``)."""

    softmax: bool = False
    selection: str = "all_heads"

    def loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        targets = head_targets(labels)
        return sum(
            F.cross_entropy(logits.float().softmax(1) if self.softmax else logits.float(), targets[head])
            for head, logits in outputs.items()
        )

    def correct(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        if self.selection == "mean_heads":
            targets = head_targets(labels)
            hits = [(logits.argmax(dim=1) == targets[head]).sum() for head, logits in outputs.items()]
            return torch.stack(hits).double().mean()
        return (decode(outputs) == labels).sum()


def metrics(task: SbhTask, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    """Both of write-up 001's accuracies, per-head accuracies and the test loss (the task's loss)."""
    targets = head_targets(labels)
    result = {"acc_all_heads": (decode(outputs) == labels).double().mean().item()}
    head_acc = {
        head: (logits.argmax(dim=1) == targets[head]).double().mean().item() for head, logits in outputs.items()
    }
    for head, acc in head_acc.items():
        result[f"acc_head_{head}"] = acc
    result["acc_mean_heads"] = sum(head_acc.values()) / len(head_acc)
    result["test_loss"] = task.loss(outputs, labels).item()
    return result


# --- one case ----------------------------------------------------------------------------


def task_data(case: SbhCase, ctx: RunContext, settings: SbhSettings) -> Splits:
    """The case's digits on the device. Sweeps: a prefix of the 60k training images, filtered
    (the authors' subsets). Grid cases: every image, or the profile's balanced cap. With
    ``val_fraction``, a seeded share of the training subset is held out for early stopping."""
    train, test = mnist_splits(ctx)
    if case.train_size is not None:
        train = (train[0][: case.train_size], train[1][: case.train_size])
    train_x, train_y = select_digits(*train, case.digits)
    test_x, test_y = select_digits(*test, case.digits)
    if case.train_size is None and settings.train_images is not None and settings.train_images < len(train_y):
        keep = balanced_subset(train_y, settings.train_images, seed=ctx.seed)
        train_x, train_y = train_x[keep], train_y[keep]
    test_data = DeviceData.create(test_x, test_y, ctx.device, prep=INPUT)
    if not settings.val_fraction:
        return Splits(DeviceData.create(train_x, train_y, ctx.device, prep=INPUT), test_data, test_data)
    order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(ctx.seed))
    n_val = max(1, round(settings.val_fraction * len(train_y)))
    val, fit_part = order[:n_val].sort().values, order[n_val:].sort().values
    return Splits(
        DeviceData.create(train_x[fit_part], train_y[fit_part], ctx.device, prep=INPUT),
        DeviceData.create(train_x[val], train_y[val], ctx.device, prep=INPUT),
        test_data,
    )


def weights_for(ctx: RunContext, settings: SbhSettings) -> str:
    return settings.weights if ctx.weights == "auto" else ctx.weights


def plan(case: SbhCase, ctx: RunContext, settings: SbhSettings | None = None) -> CasePlan:
    settings = settings or PROFILES[ctx.profile]
    budget = settings.budget_for(case.experiment)
    if case.selection != "all_heads" and not budget.patience:
        raise CaseSkipped(
            f"{case.id}: experiment 1 is a separate run only with early stopping (--profile writeup); "
            f"under {ctx.profile} the experiment-2 record of the same structure holds acc_mean_heads of the same run"
        )
    thresholds, calibrated = case.thresholds(settings)
    task = SbhTask(softmax=settings.softmax_loss, selection=case.selection)
    return CasePlan(
        study=NAME,
        case_id=case.id,
        params={
            **case.params(),
            "threshold_group": case.group,
            "threshold_calibrated": calibrated,
            "loss_on": "softmax" if settings.softmax_loss else "logits",
            "val_fraction": settings.val_fraction,
        },
        budget=replace(budget, lr=case.lr or budget.lr),
        thresholds=thresholds,
        timing=settings.timing,
        model=case.structure,
        build=partial(models.create, case.structure, backbone=case.backbone, weights=weights_for(ctx, settings)),
        description=models.describe(case.structure),
        load_data=partial(task_data, case, ctx, settings),
        task=task,
        score=partial(metrics, task),
        predict=decode,
        latency_batch=LATENCY_BATCH,
        seed_gate=case.seed_gate(settings),
    )
