"""Study ``perf``: training throughput of the harness against the usual input pipeline.

For each model, in one run on one machine, the same number of training steps go through
(a) the harness (``train_one_epoch`` over uint8 tensors on the device),
(b) the pipeline the seeds used: ``torchvision.datasets.MNIST`` with ``ToTensor``/``Normalize``
    transforms and a ``DataLoader`` (batch 256, 2 worker processes), and
(c) a minimal hand-written loop over the same device tensors with no bookkeeping (the floor).
Each pipeline is timed ``repeats`` times, interleaved, and its best run is kept (as ``timeit``
does: noise only ever slows a run down). The achieved FLOP/s of the training step is set
against a measured matrix-multiply rate on the same device.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torchvision.transforms as T
from torch.utils.data import DataLoader, Subset

import models
from harness.case import judge, model_stats, new_record, recorded, skip_if_done
from harness.context import RunContext
from harness.mnist import ensure_mnist, mnist_splits
from harness.records import ResultRecord
from harness.runtime import seed_everything, timed
from harness.train import MNIST_MEAN, MNIST_STD, Budget, ClassificationTask, DeviceData, InputPrep, as_heads, prepare_model, train_one_epoch
from studies import sbh

STUDY = "perf"
BATCH = 256
WORKERS = 2


@dataclass(frozen=True)
class PerfCase:
    id: str
    model: str
    build: dict
    digits: tuple[int, ...] | None  # None: all ten digits
    pad: int  # LeNet-5 reads 32x32

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.model, *(v for k, v in self.build.items() if k == "backbone"))


CASES = [
    PerfCase("lenet5-new", "lenet5-new", {"num_classes": 10}, None, 2),
    PerfCase("arch2-resnet18", "arch2", {"backbone": "resnet18"}, sbh.SEED001_DIGITS, 0),
]


@dataclass(frozen=True)
class Profile:
    steps: dict  # case id -> timed training steps per pipeline
    warmup_steps: int
    repeats: int
    thresholds: dict = field(default_factory=dict)  # case id -> {ratio: minimum}


# Targets of the performance issue, asserted as minimum ratios measured in the same run.
TARGETS = {
    "lenet5-new": {"harness_over_dataloader": 3.0, "harness_over_minimal": 0.95},
    "arch2-resnet18": {"harness_over_minimal": 0.95},
}
PROFILES = {
    "smoke": Profile(steps={"lenet5-new": 400, "arch2-resnet18": 30}, warmup_steps=3, repeats=3, thresholds=TARGETS),
    "full": Profile(steps={"lenet5-new": 400, "arch2-resnet18": 200}, warmup_steps=20, repeats=3, thresholds=TARGETS),
}


def _task(case: PerfCase):
    return sbh.SbhTask if case.digits else ClassificationTask


def _images(ctx: RunContext, case: PerfCase) -> tuple[torch.Tensor, torch.Tensor]:
    (x, y), _ = mnist_splits(ctx)
    return sbh.select_digits(x, y, case.digits) if case.digits else (x, y)


def _fresh(case: PerfCase, ctx: RunContext) -> tuple[nn.Module, torch.optim.Optimizer]:
    seed_everything(ctx.seed)
    model = prepare_model(models.create(case.model, **case.build), ctx.device)
    return model, torch.optim.Adam(model.parameters(), lr=1e-4, fused=ctx.device.type == "cuda" or None)


def harness_seconds(case: PerfCase, ctx: RunContext, steps: int, warmup: int) -> float:
    x, y = _images(ctx, case)
    data = DeviceData.create(x, y, ctx.device, prep=InputPrep(pad=case.pad))
    model, optimizer = _fresh(case, ctx)
    generator = torch.Generator().manual_seed(ctx.seed)

    def epoch(n_steps: int) -> None:
        subset = DeviceData(data.images[: n_steps * BATCH], data.labels[: n_steps * BATCH], data.prep)
        train_one_epoch(model, optimizer, subset, _task(case), batch_size=BATCH, generator=generator, device=ctx.device, epoch=1)

    epoch(warmup)
    return timed(ctx.device, lambda: epoch(steps))[1]


def minimal_seconds(case: PerfCase, ctx: RunContext, steps: int, warmup: int) -> float:
    x, y = _images(ctx, case)
    data = DeviceData.create(x, y, ctx.device, prep=InputPrep(pad=case.pad))
    model, optimizer = _fresh(case, ctx)
    task = _task(case)

    def loop(n_steps: int) -> None:
        model.train()
        order = torch.randperm(len(data)).to(ctx.device)
        for step in range(n_steps):
            xb, yb = data.batch(order[step * BATCH : (step + 1) * BATCH], ctx.device, train=True)
            loss = task.loss(as_heads(model(xb)), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    loop(warmup)
    return timed(ctx.device, lambda: loop(steps))[1]


def dataloader_seconds(case: PerfCase, ctx: RunContext, steps: int, warmup: int) -> float:
    import torchvision

    transforms = ([T.Pad(case.pad)] if case.pad else []) + [T.ToTensor(), T.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    relabel = {d: i for i, d in enumerate(case.digits)} if case.digits else None
    dataset = torchvision.datasets.MNIST(
        str(ensure_mnist(ctx.data_root)), train=True, transform=T.Compose(transforms), target_transform=relabel.__getitem__ if relabel else None
    )
    if case.digits:
        dataset = Subset(dataset, torch.isin(dataset.targets, torch.tensor(case.digits)).nonzero().flatten().tolist())
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=WORKERS, drop_last=True, pin_memory=ctx.device.type == "cuda")
    model, optimizer = _fresh(case, ctx)
    task = _task(case)
    batches = iter(loader)

    def loop(n_steps: int) -> None:
        model.train()
        for _ in range(n_steps):
            xb, yb = next(batches)
            xb, yb = xb.to(ctx.device, non_blocking=True), yb.to(ctx.device, non_blocking=True)
            loss = task.loss(as_heads(model(xb)), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    loop(warmup)  # worker start-up and the first batches are not timed
    return timed(ctx.device, lambda: loop(steps))[1]


def matmul_flops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Measured dense matrix-multiply rate (fp32 on the CPU, bf16 on CUDA): the ceiling to compare with."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = min(timed(device, lambda: a @ b)[1] for _ in range(repeats))
    return 2 * n**3 / best


PIPELINES = {"harness": harness_seconds, "dataloader": dataloader_seconds, "minimal": minimal_seconds}


def run_case(case: PerfCase, ctx: RunContext, *, profile: Profile | None = None) -> ResultRecord:
    skip_if_done(ctx, STUDY, case.id)
    profile = profile or PROFILES[ctx.profile]
    steps = profile.steps[case.id]
    budget = Budget(epochs=0, batch_size=BATCH, lr=1e-4)
    record = new_record(STUDY, case.id, {"model": case.model, **case.build, "steps": steps, "workers": WORKERS}, ctx, thresholds=profile.thresholds.get(case.id, {}), budget=budget)
    with recorded(record, ctx.results_dir):
        best = {name: float("inf") for name in PIPELINES}
        for _ in range(profile.repeats):
            for name, measure in PIPELINES.items():
                best[name] = min(best[name], measure(case, ctx, steps, profile.warmup_steps))
        rate = {name: steps * BATCH / seconds for name, seconds in best.items()}
        example, _ = DeviceData.create(*_images(ctx, case), ctx.device, prep=InputPrep(pad=case.pad)).batch(torch.arange(1, device=ctx.device), ctx.device)
        model, _ = _fresh(case, ctx)
        record.model = model_stats(model, example)
        achieved = 3 * record.model["flops_per_image"] * rate["harness"]  # backward ~ 2x forward
        peak = matmul_flops(ctx.device)
        record.metrics.update(
            {f"images_per_s_{name}": value for name, value in rate.items()},
            harness_over_dataloader=rate["harness"] / rate["dataloader"],
            harness_over_minimal=rate["harness"] / rate["minimal"],
            train_flops_per_s=achieved,
            matmul_flops_per_s=peak,
            share_of_matmul_rate=achieved / peak,
        )
        judge(record)
    return record
