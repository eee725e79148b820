"""Training side of study ``sbh``: labels of the heads, loss, metrics, data, and the plan of a case."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import torch
import torch.nn.functional as F

from harness.context import RunContext
from harness.lifecycle import CasePlan, Splits
from harness.mnist import mnist_splits
from harness.train import DeviceData
from studies.sbh import NAME, PROFILES, SbhCase, SbhSettings

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
    return {"abc": labels, "a": (labels == 2).long(), "b": (labels >= 1).long()}


def decode(outputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """3-class prediction; -1 where split heads disagree with every class (A says c, B says a)."""
    if "abc" in outputs:
        return outputs["abc"].argmax(dim=1)
    a, b = outputs["a"].argmax(dim=1), outputs["b"].argmax(dim=1)
    return torch.where(a == 1, torch.where(b == 1, 2, -1), b)


class SbhTask:
    """Cross-entropy per head, summed; ``correct`` counts images whose decoded class is right."""

    @staticmethod
    def loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        targets = head_targets(labels)
        return sum(F.cross_entropy(logits.float(), targets[head]) for head, logits in outputs.items())

    @staticmethod
    def correct(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return (decode(outputs) == labels).sum()


def metrics(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    """Both of write-up 001's accuracies, per-head accuracies and the test loss."""
    targets = head_targets(labels)
    result = {"acc_all_heads": (decode(outputs) == labels).double().mean().item()}
    head_acc = {
        head: (logits.argmax(dim=1) == targets[head]).double().mean().item() for head, logits in outputs.items()
    }
    for head, acc in head_acc.items():
        result[f"acc_head_{head}"] = acc
    result["acc_mean_heads"] = sum(head_acc.values()) / len(head_acc)
    result["test_loss"] = SbhTask.loss(outputs, labels).item()
    return result


# --- one case ----------------------------------------------------------------------------


def task_data(case: SbhCase, ctx: RunContext, settings: SbhSettings) -> Splits:
    """Train and test images of the case's digits on the device; the train set capped and balanced."""
    train, test = mnist_splits(ctx)
    train_x, train_y = select_digits(*train, case.digits)
    test_x, test_y = select_digits(*test, case.digits)
    size = case.train_size or settings.train_images
    if size is not None and size < len(train_y):
        keep = balanced_subset(train_y, size, seed=ctx.seed)
        train_x, train_y = train_x[keep], train_y[keep]
    test_data = DeviceData.create(test_x, test_y, ctx.device)
    return Splits(DeviceData.create(train_x, train_y, ctx.device), test_data, test_data)


def plan(case: SbhCase, ctx: RunContext, settings: SbhSettings | None = None) -> CasePlan:
    settings = settings or PROFILES[ctx.profile]
    thresholds, calibrated = case.thresholds(settings)
    return CasePlan(
        study=NAME,
        case_id=case.id,
        params={**case.params(), "threshold_group": case.group, "threshold_calibrated": calibrated},
        budget=replace(settings.budget, lr=case.lr or settings.budget.lr),
        thresholds=thresholds,
        timing=settings.timing,
        model=case.structure,
        model_kwargs={"backbone": case.backbone},
        load_data=partial(task_data, case, ctx, settings),
        task=SbhTask,
        score=metrics,
        predict=decode,
    )
