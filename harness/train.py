"""The training loop: ``train_one_epoch``, ``evaluate`` and ``fit``, in the manner of
torchvision's reference ``train.py``. No callbacks: what a study varies is passed in as a
``Task`` (its loss and its per-batch count of correct images).

Data stay on the training device as one uint8 tensor; batches are drawn by index and
normalised on the device, so no DataLoader or per-sample Python transform sits in the loop.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass, field
from typing import Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from harness.checkpoint import EpochCheckpoint, restore_random_states
from harness.errors import Diverged
from harness.precision import FP32, Precision
from harness.runtime import timed
from harness.settings import Budget, InputPrep

log = logging.getLogger("backbone_bench")
# The default preparation (no pad or resize, MNIST normalisation); InputPrep is frozen, so one instance serves all.
NO_PREP = InputPrep()


def as_heads(outputs: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Multi-head models return {head: logits}; a plain classifier's logits become {"logits": ...}."""
    return outputs if isinstance(outputs, dict) else {"logits": outputs}


class Task(Protocol):
    """Losses and counts take the model's outputs as ``as_heads`` returns them."""

    def loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor: ...

    def correct(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        """Number of images in the batch that the study's main accuracy counts as right."""
        ...


class ClassificationTask:
    """Plain single-head classification: cross-entropy on the logits, top-1 correct."""

    @staticmethod
    def loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float(), labels)

    @staticmethod
    def correct(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return (outputs["logits"].argmax(dim=1) == labels).sum()


class SoftmaxCrossEntropyTask(ClassificationTask):
    """Cross-entropy applied to softmax probabilities instead of logits, as the write-ups' authors
    trained (their networks end in ``Softmax`` and feed ``CrossEntropyLoss``). The loss then
    cannot fall below log(K - 1 + e) - 1 (about 1.461 for 10 classes) and its gradients shrink
    as a prediction grows confident."""

    @staticmethod
    def loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs["logits"].float().softmax(dim=1), labels)


def _random_shift(x: torch.Tensor, limit: int) -> torch.Tensor:
    """Translate each image by its own (dx, dy) in [-limit, limit], zero fill: one gather, no loop."""
    n, _, h, w = x.shape
    padded = F.pad(x, (limit,) * 4)
    dy, dx = torch.randint(0, 2 * limit + 1, (2, n), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, None, :, None].expand(
        n, x.shape[1], h, w + 2 * limit
    )
    x = padded.gather(2, rows)
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, None, :].expand(n, x.shape[1], h, w)
    return x.gather(3, cols)


@dataclass
class DeviceData:
    """A whole split on the device: uint8 images [N, H, W] and int64 labels [N]."""

    images: torch.Tensor
    labels: torch.Tensor
    prep: InputPrep = NO_PREP

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def create(
        cls, images: torch.Tensor, labels: torch.Tensor, device: torch.device, *, prep: InputPrep = NO_PREP
    ) -> DeviceData:
        return cls(images.to(device, non_blocking=True), labels.to(device, non_blocking=True), prep)

    def batch(
        self, index: torch.Tensor, device: torch.device, *, train: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        prep = self.prep
        x = self.images[index].unsqueeze(1)
        if prep.pad:
            x = F.pad(x, (prep.pad,) * 4)
        x = x.float().div_(255.0)
        if prep.resize:
            x = F.interpolate(x, size=(prep.resize, prep.resize), mode="bilinear", align_corners=False, antialias=True)
        if train and prep.shift:
            x = _random_shift(x, prep.shift)
        x = x.sub_(prep.mean).div_(prep.std)
        return x.contiguous(memory_format=torch.channels_last), self.labels[index]


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    train_acc: float
    eval_acc: float
    elapsed_s: float  # training wall time up to the end of this epoch, evaluation excluded
    eval_loss: float | None = None
    lr: float | None = None  # the rate this epoch trained with
    best: bool = False  # with early stopping: the epoch whose weights were kept and tested


def prepare_model(model: nn.Module, device: torch.device, *, compile: bool = False) -> nn.Module:
    """On the device in channels_last; with ``compile``, compiled in place (``nn.Module.compile``,
    so state_dict keys stay as they are; compilation happens at the first call).

    channels_last on the CPU too: on the 2-core EPYC here it made LeNet-5's training step 2x
    faster and inference of the ResNets and blocks networks 1.3-2.4x (PERFORMANCE.md); tensor
    cores want it on CUDA.
    """
    model = model.to(device, memory_format=torch.channels_last)
    if compile:
        model.compile()
    return model


def adam(model: nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """The optimizer of every study and of the perf pipelines."""
    # The fused CUDA kernel updates every parameter in one launch; the CPU keeps the default.
    return torch.optim.Adam(model.parameters(), lr=lr, fused=device.type == "cuda" or None)


def make_optimizer(model: nn.Module, budget: Budget, device: torch.device) -> torch.optim.Optimizer:
    """The budget's optimizer: Adam, or AdamW (the write-ups' authors' choice) with torch's defaults."""
    if budget.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=budget.lr, fused=device.type == "cuda" or None)
    if budget.optimizer != "adam":
        raise ValueError(f"unknown optimizer {budget.optimizer!r}; valid: adam, adamw")
    return adam(model, budget.lr, device)


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: DeviceData,
    task: Task,
    *,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    epoch: int,
    precision: Precision = FP32,
) -> tuple[float, float]:
    model.train()
    order = torch.randperm(len(data), generator=generator).to(device)
    # Dropping the last short batch keeps BatchNorm away from a batch of one.
    steps = len(data) // batch_size
    # A per-step .item() would stall CUDA's queue; on the CPU it costs nothing.
    check_every = 1 if device.type == "cpu" else 25
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.float64)  # a mean-of-heads count is fractional
    for step in range(steps):
        x, y = data.batch(order[step * batch_size : (step + 1) * batch_size], device, train=True)
        with precision.autocast(device, training=True):
            outputs = as_heads(model(x))
            loss = task.loss(outputs, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach().float()
        correct += task.correct(outputs, y)
        if ((step + 1) % check_every == 0 or step + 1 == steps) and not torch.isfinite(loss_sum).item():
            raise Diverged(f"loss became {loss_sum.item()} in epoch {epoch} at or before step {step + 1}/{steps}")
    return loss_sum.item() / max(steps, 1), correct.item() / max(steps * batch_size, 1)


@torch.inference_mode()
def evaluate(
    model: nn.Module, data: DeviceData, *, batch_size: int, device: torch.device, precision: Precision = FP32
) -> dict[str, torch.Tensor]:
    """Logits of every head for the whole split, in float32, on the device."""
    model.eval()
    chunks: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(data), batch_size):
        x, _ = data.batch(torch.arange(start, min(start + batch_size, len(data)), device=device), device)
        with precision.autocast(device, training=False):
            outputs = as_heads(model(x))
        for head, logits in outputs.items():
            chunks.setdefault(head, []).append(logits.float())
    return {head: torch.cat(parts) for head, parts in chunks.items()}


def epochs_for(budget: Budget, train_images: int) -> int:
    """The budget's epochs, raised until ``min_steps`` optimizer steps fit (the last short batch is dropped)."""
    steps_per_epoch = max(train_images // budget.batch_size, 1)
    return max(budget.epochs, -(-budget.min_steps // steps_per_epoch))


class _Best:
    """Early stopping: the best epoch so far on the monitored quantity, and a copy of its weights."""

    def __init__(self, monitor: str, patience: int) -> None:
        if monitor not in ("accuracy", "loss"):
            raise ValueError(f"unknown early-stopping monitor {monitor!r}; valid: accuracy, loss")
        self.sign = 1.0 if monitor == "accuracy" else -1.0
        self.monitor, self.patience = monitor, patience
        self.value = float("-inf")
        self.epoch = 0
        self.state: dict[str, torch.Tensor] = {}
        self.logits: dict[str, torch.Tensor] = {}

    def update(self, model: nn.Module, log_entry: EpochLog, logits: dict[str, torch.Tensor]) -> bool:
        value = self.sign * (log_entry.eval_acc if self.sign > 0 else log_entry.eval_loss)
        if value <= self.value:
            return False
        self.value, self.epoch, self.logits = value, log_entry.epoch, logits
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return True

    def exhausted(self, epoch: int) -> bool:
        return epoch - self.epoch >= self.patience


@dataclass
class _Progress:
    """Where a call of ``fit`` stands after an epoch: what a checkpoint saves and a resumed run restores."""

    history: list[EpochLog] = field(default_factory=list)
    elapsed: float = 0.0
    epoch: int = 0
    stopped: bool = False


def _optimizer_and_scheduler(model: nn.Module, budget: Budget, device: torch.device):
    optimizer = make_optimizer(model, budget, device)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer) if budget.plateau else None
    return optimizer, scheduler


def _resume(saved: dict, model, optimizer, scheduler, best: _Best | None, generator: torch.Generator) -> _Progress:
    """Every state a saved epoch left (harness.checkpoint), back in place."""
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    if best is not None:
        best.value, best.epoch, best.state = saved["best"]
    generator.set_state(saved["generator"])
    restore_random_states(saved)
    return _Progress(
        [EpochLog(**entry) for entry in saved["history"]], saved["elapsed"], saved["epoch"], saved["stopped"]
    )


def _saved_state(progress: _Progress, model, optimizer, scheduler, best: _Best | None, generator) -> dict:
    return {
        "epoch": progress.epoch,
        "stopped": progress.stopped,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "best": (best.value, best.epoch, best.state) if best is not None else None,
        "generator": generator.get_state(),
        "history": [asdict(entry) for entry in progress.history],
        "elapsed": progress.elapsed,
    }


def _epoch(
    model,
    optimizer,
    scheduler,
    train: DeviceData,
    test: DeviceData,
    task: Task,
    budget: Budget,
    *,
    epoch: int,
    elapsed: float,
    device: torch.device,
    generator: torch.Generator,
    precision: Precision,
) -> tuple[EpochLog, dict[str, torch.Tensor]]:
    """One timed training epoch, then the evaluated split's logits (not timed) and the scheduler's step."""
    one_epoch = functools.partial(
        train_one_epoch,
        model,
        optimizer,
        train,
        task,
        batch_size=budget.batch_size,
        generator=generator,
        device=device,
        epoch=epoch,
        precision=precision,
    )
    (train_loss, train_acc), seconds = timed(device, one_epoch)
    lr = optimizer.param_groups[0]["lr"]
    logits = evaluate(model, test, batch_size=budget.eval_batch_size, device=device, precision=precision)
    eval_acc = float(task.correct(logits, test.labels)) / len(test)
    eval_loss = task.loss(logits, test.labels).item()
    if scheduler is not None:
        scheduler.step(eval_loss)
    return EpochLog(epoch, train_loss, train_acc, eval_acc, elapsed + seconds, eval_loss, lr), logits


def fit(
    model: nn.Module,
    train: DeviceData,
    test: DeviceData,
    task: Task,
    budget: Budget,
    *,
    device: torch.device,
    generator: torch.Generator,
    precision: Precision = FP32,
    name: str = "",
    checkpoint: EpochCheckpoint | None = None,
) -> tuple[list[EpochLog], dict[str, torch.Tensor]]:
    """Train for the budget, evaluating after every epoch (outside the timed region).

    Returns the per-epoch history and the evaluated split's logits of the weights kept: the
    last epoch's, or with ``budget.patience`` the best epoch's (restored into ``model``).
    With a ``checkpoint``, training goes on from its saved epoch and saves after epochs
    (``harness.checkpoint``); ``checkpoint.resumed_after`` then names the epoch it resumed after.
    """
    optimizer, scheduler = _optimizer_and_scheduler(model, budget, device)
    best = _Best(budget.monitor, budget.patience) if budget.patience else None
    epochs = epochs_for(budget, len(train))
    progress = _Progress()
    logits: dict[str, torch.Tensor] = {}
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        progress = _resume(saved, model, optimizer, scheduler, best, generator)
        checkpoint.resumed_after = progress.epoch
        log.info("%s resuming after epoch %d/%d from %s", name, progress.epoch, epochs, checkpoint.path)
    for epoch in range(progress.epoch + 1, 1 if progress.stopped else epochs + 1):
        entry, logits = _epoch(
            model,
            optimizer,
            scheduler,
            train,
            test,
            task,
            budget,
            epoch=epoch,
            elapsed=progress.elapsed,
            device=device,
            generator=generator,
            precision=precision,
        )
        progress.history.append(entry)
        progress.elapsed, progress.epoch = entry.elapsed_s, epoch
        log.info(
            "%s epoch %d/%d  loss %.4f  train_acc %.4f  eval_acc %.4f  %.1fs",
            name,
            epoch,
            epochs,
            entry.train_loss,
            entry.train_acc,
            entry.eval_acc,
            entry.elapsed_s,
        )
        if best is not None and not best.update(model, entry, logits) and best.exhausted(epoch):
            log.info("%s early stop: no better %s for %d epochs", name, budget.monitor, budget.patience)
            progress.stopped = True
        if checkpoint is not None and checkpoint.due(final=progress.stopped or epoch == epochs):
            checkpoint.save(_saved_state(progress, model, optimizer, scheduler, best, generator))
        if progress.stopped:
            break
    if best is not None and best.epoch:
        model.load_state_dict(best.state)
        progress.history[best.epoch - 1].best = True
        logits = best.logits
    if not logits:  # resumed after the epoch that gave the kept weights: their logits are not in memory
        logits = evaluate(model, test, batch_size=budget.eval_batch_size, device=device, precision=precision)
    return progress.history, logits
