"""Measuring side of study ``perf``: the three training pipelines and the GPU epoch cases."""

from __future__ import annotations

import functools
from dataclasses import asdict

import torch
import torch.nn as nn
import torchvision.transforms as T
from torch.utils.data import DataLoader, Subset

import models
from harness.context import RunContext
from harness.emnist import NUM_CLASSES
from harness.errors import BenchError
from harness.flops import model_stats
from harness.mnist import ensure_mnist, mnist_splits
from harness.precision import Precision, resolve_precision
from harness.records import ResultRecord
from harness.runner import Job
from harness.runtime import seed_everything, timed
from harness.settings import MNIST_MEAN, MNIST_STD, Budget, InputPrep
from harness.timing import Timing
from harness.train import ClassificationTask, DeviceData, adam, as_heads, prepare_model, train_one_epoch
from studies.perf import (
    BATCH,
    EPOCH_IMAGES,
    EPOCH_REPEATS,
    EPOCH_TARGET,
    NAME,
    PROFILES,
    TARGET_GPUS,
    WORKERS,
    EpochCase,
    PerfCase,
    PerfSettings,
)
from studies.sbh.plan import SbhTask, select_digits


def _task(case: PerfCase):
    return SbhTask() if case.digits else ClassificationTask


def _images(ctx: RunContext, case: PerfCase) -> tuple[torch.Tensor, torch.Tensor]:
    (x, y), _ = mnist_splits(ctx)
    return select_digits(x, y, case.digits) if case.digits else (x, y)


def _fresh(case: PerfCase, ctx: RunContext) -> tuple[nn.Module, torch.optim.Optimizer]:
    seed_everything(ctx.seed)
    model = prepare_model(models.create(case.model, **case.build), ctx.device, compile=ctx.compile)
    return model, adam(model, 1e-4, ctx.device)


def _check_one_epoch(case: PerfCase, n_images: int, steps: int, warmup: int) -> None:
    # The DataLoader pipeline draws warm-up and timed steps from one iterator, so that worker
    # start-up stays out of the timing; past one epoch it would run dry.
    if (warmup + steps) * BATCH > n_images:
        raise BenchError(
            f"perf {case.id}: {warmup} warm-up + {steps} timed steps of {BATCH} need {(warmup + steps) * BATCH} "
            "images, "
            f"the data has {n_images}; lower the profile's steps to at most {n_images // BATCH - warmup}"
        )


def _device_data(case: PerfCase, ctx: RunContext) -> DeviceData:
    return DeviceData.create(*_images(ctx, case), ctx.device, prep=InputPrep(pad=case.pad))


def _precision(case: PerfCase | EpochCase, ctx: RunContext) -> Precision:
    """The precision a study case of this model would train in: all three pipelines share it."""
    return resolve_precision(ctx.precision, ctx.device, model=case.model)


def harness_seconds(case: PerfCase, ctx: RunContext, steps: int, warmup: int) -> float:
    data = _device_data(case, ctx)
    model, optimizer = _fresh(case, ctx)
    generator = torch.Generator().manual_seed(ctx.seed)

    def epoch(n_steps: int) -> None:
        subset = DeviceData(data.images[: n_steps * BATCH], data.labels[: n_steps * BATCH], data.prep)
        train_one_epoch(
            model,
            optimizer,
            subset,
            _task(case),
            batch_size=BATCH,
            generator=generator,
            device=ctx.device,
            epoch=1,
            precision=_precision(case, ctx),
        )

    epoch(warmup)
    return timed(ctx.device, lambda: epoch(steps))[1]


def _plain_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    task,
    batches,
    device: torch.device,
    n_steps: int,
    precision: Precision,
) -> None:
    """The training step with nothing around it: no running loss or accuracy, no NaN check."""
    model.train()
    for _ in range(n_steps):
        xb, yb = next(batches)
        with precision.autocast(device, training=True):
            loss = task.loss(as_heads(model(xb)), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def minimal_seconds(case: PerfCase, ctx: RunContext, steps: int, warmup: int) -> float:
    data = _device_data(case, ctx)
    model, optimizer = _fresh(case, ctx)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(ctx.seed)).to(ctx.device)
    batches = (
        data.batch(order[i * BATCH : (i + 1) * BATCH], ctx.device, train=True) for i in range(len(data) // BATCH)
    )
    loop = functools.partial(
        _plain_loop, model, optimizer, _task(case), batches, ctx.device, precision=_precision(case, ctx)
    )
    loop(warmup)
    return timed(ctx.device, lambda: loop(steps))[1]


def dataloader_seconds(case: PerfCase, ctx: RunContext, steps: int, warmup: int) -> float:
    import torchvision

    transforms = ([T.Pad(case.pad)] if case.pad else []) + [T.ToTensor(), T.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    relabel = {d: i for i, d in enumerate(case.digits)} if case.digits else None
    dataset = torchvision.datasets.MNIST(
        str(ensure_mnist(ctx.data_root)),
        train=True,
        transform=T.Compose(transforms),
        target_transform=relabel.__getitem__ if relabel else None,
    )
    if case.digits:
        dataset = Subset(dataset, torch.isin(dataset.targets, torch.tensor(case.digits)).nonzero().flatten().tolist())
    loader = DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=True,
        num_workers=WORKERS,
        drop_last=True,
        pin_memory=ctx.device.type == "cuda",
    )
    model, optimizer = _fresh(case, ctx)
    on_device = ((x.to(ctx.device, non_blocking=True), y.to(ctx.device, non_blocking=True)) for x, y in loader)
    loop = functools.partial(
        _plain_loop, model, optimizer, _task(case), on_device, ctx.device, precision=_precision(case, ctx)
    )
    loop(warmup)  # worker start-up is not timed
    return timed(ctx.device, lambda: loop(steps))[1]


def matmul_flops(device: torch.device, precision: Precision, n: int = 2048, repeats: int = 5) -> float:
    """Measured dense matrix-multiply rate in the precision the case trains in: the ceiling to compare with."""
    dtype = torch.bfloat16 if precision.train == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = min(timed(device, lambda: a @ b)[1] for _ in range(repeats))
    return 2 * n**3 / best


PIPELINES = {"harness": harness_seconds, "dataloader": dataloader_seconds, "minimal": minimal_seconds}


def perf_job(case: PerfCase, ctx: RunContext, *, settings: PerfSettings | None = None) -> Job:
    settings = settings or PROFILES[ctx.profile]
    steps = settings.steps[case.id]

    def measure(record: ResultRecord) -> None:
        _check_one_epoch(case, len(_images(ctx, case)[1]), steps, settings.warmup_steps)
        runs: dict[str, list[float]] = {name: [] for name in PIPELINES}
        for _ in range(settings.repeats):
            for name, pipeline in PIPELINES.items():
                runs[name].append(pipeline(case, ctx, steps, settings.warmup_steps))
        best = {name: min(times) for name, times in runs.items()}
        rate = {name: steps * BATCH / seconds for name, seconds in best.items()}
        # The gate (reports/compare.py) ranks the harness pipeline's repeats between runs.
        record.timing = {**asdict(Timing.from_samples(runs["harness"], "perf_counter")), "measures": "train_s"}
        example, _ = _device_data(case, ctx).batch(torch.arange(1, device=ctx.device), ctx.device)
        model, _ = _fresh(case, ctx)
        record.model = model_stats(model, example)
        achieved = 3 * record.model["flops_per_image"] * rate["harness"]  # backward ~ 2x forward
        precision = _precision(case, ctx)
        record.environment["precision"] = precision.as_record()
        peak = matmul_flops(ctx.device, precision)
        record.metrics.update(
            {f"images_per_s_{name}": value for name, value in rate.items()},
            harness_over_dataloader=rate["harness"] / rate["dataloader"],
            harness_over_minimal=rate["harness"] / rate["minimal"],
            train_flops_per_s=achieved,
            matmul_flops_per_s=peak,
            share_of_matmul_rate=achieved / peak,
        )

    return Job(
        NAME,
        case.id,
        {"model": case.model, **case.build, "steps": steps, "workers": WORKERS},
        Budget(epochs=0, batch_size=BATCH, lr=1e-4),
        thresholds=settings.thresholds.get(case.id, {}),
        measure=measure,
    )


def epoch_thresholds(device: torch.device) -> dict:
    """The epoch target on the GPUs it was set for; elsewhere the time is recorded without a bar."""
    targeted = device.type == "cuda" and any(name in torch.cuda.get_device_name(device) for name in TARGET_GPUS)
    return dict(EPOCH_TARGET) if targeted else {}


def epoch_job(case: EpochCase, ctx: RunContext) -> Job:
    """One warm-up epoch (cuDNN autotuning, compilation), then the best of three timed epochs
    through ``train_one_epoch``, the function every study's ``fit`` uses. The images are seeded
    random uint8 28x28 at EMNIST's size: throughput does not depend on what the pixels show, and
    EMNIST itself has no offline source."""
    budget = Budget(epochs=EPOCH_REPEATS, batch_size=BATCH, lr=1e-3)
    params = {
        "model": case.model,
        "images": EPOCH_IMAGES,
        "input": "zero-pad 28->32" if case.prep.pad else f"resize 28->{case.prep.resize}",
    }

    def measure(record: ResultRecord) -> None:
        generator = seed_everything(ctx.seed)
        images = torch.randint(0, 256, (EPOCH_IMAGES, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, NUM_CLASSES, (EPOCH_IMAGES,), generator=generator)
        data = DeviceData.create(images, labels, ctx.device, prep=case.prep)
        model = prepare_model(models.create(case.model, num_classes=NUM_CLASSES), ctx.device, compile=ctx.compile)
        optimizer = adam(model, budget.lr, ctx.device)
        precision = _precision(case, ctx)
        record.environment["precision"] = precision.as_record()

        def epoch(number: int) -> None:
            train_one_epoch(
                model,
                optimizer,
                data,
                ClassificationTask,
                batch_size=BATCH,
                generator=generator,
                device=ctx.device,
                epoch=number,
                precision=precision,
            )

        epoch(0)
        seconds = sorted(timed(ctx.device, functools.partial(epoch, n))[1] for n in range(1, EPOCH_REPEATS + 1))
        record.model = model_stats(model, data.batch(torch.arange(1, device=ctx.device), ctx.device)[0])
        record.metrics.update(
            s_per_epoch=seconds[0],
            s_per_epoch_median=seconds[len(seconds) // 2],
            images_per_s=(len(data) // BATCH) * BATCH / seconds[0],
            writeup_s_per_epoch=case.writeup_s_per_epoch,
            speedup_over_writeup=case.writeup_s_per_epoch / seconds[0],
        )

    return Job(NAME, case.id, params, budget, thresholds=epoch_thresholds(ctx.device), measure=measure)
