"""Measuring side of study ``perf_instructions``: the counted statements and the case's measure step.

``statement(case_id)`` is what the callgrind child (``harness/callgrind.py``) counts and what
``instructions_job`` times natively: the harness's own ``train_one_epoch`` over exactly one batch (one
optimizer step with its bookkeeping) or ``evaluate`` over one batch, on seeded weights and the
first images of MNIST's training split, on the CPU, in fp32 (valgrind runs no bf16 kernels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import torch
import torch.nn as nn

import models
from harness.callgrind import THREADS, CallgrindError, count_instructions, missing_tools
from harness.context import RunContext
from harness.errors import BenchError, CaseSkipped, DataUnavailable
from harness.flops import model_stats
from harness.mnist import DATA_ROOT_ENV, default_data_root, ensure_mnist, load_mnist
from harness.precision import FP32
from harness.records import ResultRecord
from harness.runner import Job
from harness.runtime import seed_everything
from harness.settings import Budget
from harness.timing import time_inference
from harness.train import ClassificationTask, DeviceData, adam, evaluate, prepare_model, train_one_epoch
from studies.perf_instructions import CASES, NAME, PROFILES, InstructionCase, InstructionSettings
from studies.sbh.plan import SbhTask, select_digits

CPU = torch.device("cpu")
BY_ID = {case.id: case for case in CASES}
WHY_FP32 = "instruction counts: valgrind runs no AVX-512 or AMX code, so no bf16 kernels; timed alike"


def _batch(case: InstructionCase, batch: int, root) -> DeviceData:
    images, labels = load_mnist(root, train=True)
    if case.digits:
        images, labels = select_digits(images, labels, case.digits)
    return DeviceData(images[:batch].clone(), labels[:batch].clone(), case.prep)


def statement(case_id: str, batch: int | None = None) -> Callable[[], object]:
    """One training step or one inference batch of the case, ready to call repeatedly (the
    callgrind child's entry; its data root comes from the environment the parent set)."""
    return _built(BY_ID[case_id], batch or PROFILES["smoke"].batch, default_data_root())[0]


def _built(case: InstructionCase, batch: int, root) -> tuple[Callable[[], object], nn.Module, DeviceData]:
    """The case's statement with the model and batch it runs on."""
    data = _batch(case, batch, root)
    seed_everything(0)
    model = prepare_model(models.create(case.model, **dict(case.build)), CPU)
    if case.phase == "inference-batch":
        return (lambda: evaluate(model, data, batch_size=batch, device=CPU)), model, data
    optimizer = adam(model, 1e-4, CPU)
    task = SbhTask() if case.digits else ClassificationTask
    generator = torch.Generator().manual_seed(0)

    def step():
        return train_one_epoch(model, optimizer, data, task, batch_size=batch, generator=generator, device=CPU, epoch=1)

    return step, model, data


def _counts(case: InstructionCase, ctx: RunContext, root, groups: set[str]) -> dict:
    """The counts of every selected case, taken once per session when the first case asks:
    both phases of a network in one valgrind process, the networks' processes side by side."""
    groups = sorted(groups | {case.group})
    ids = [[c.id for c in CASES if c.group == group] for group in groups]

    def count():
        try:
            return count_instructions(__name__, ids, env={DATA_ROOT_ENV: str(root)})
        except CallgrindError as exc:
            return exc  # remembered, so that the other cases do not pay for the same failure again

    counts = ctx.cached(("callgrind", tuple(groups)), count)
    if isinstance(counts, CallgrindError):
        raise BenchError(str(counts))
    return counts


def instructions_job(
    case: InstructionCase,
    ctx: RunContext,
    *,
    settings: InstructionSettings | None = None,
    selected: set[str] = frozenset(),
) -> Job:
    """``selected``: the groups (networks) of the session's other selected cases, counted together."""
    if ctx.device.type != "cpu":
        raise CaseSkipped(
            f"{case.id}: instruction counts are a CPU measure (valgrind); this session's device is {ctx.device}"
        )
    settings = settings or PROFILES[ctx.profile]
    budget = Budget(epochs=0, batch_size=settings.batch, lr=1e-4, precision="fp32")

    def measure(record: ResultRecord) -> None:
        record.environment["precision"] = {**FP32.as_record(), "why": WHY_FP32}
        reason = missing_tools()
        if reason:
            raise DataUnavailable(f"{case.id}: {reason}")
        root = ensure_mnist(ctx.data_root)
        threads = torch.get_num_threads()
        torch.set_num_threads(THREADS)
        try:
            run, model, data = _built(case, settings.batch, root)
            record.model = model_stats(model, data.batch(torch.arange(1), CPU)[0])
            timing = time_inference(
                None, run, rounds=settings.timed_rounds, warmup_rounds=settings.warmup_rounds, device=CPU
            )
        finally:
            torch.set_num_threads(threads)
        record.timing = {**asdict(timing), "measures": "step_s"}
        counts = _counts(case, ctx, root, set(selected))[case.id]
        record.instructions = counts.as_record()
        record.metrics.update(
            instructions=counts.total,
            instructions_per_image=counts.total / settings.batch,
            step_s=timing.median_s,
        )

    return Job(NAME, case.id, case.params(settings.batch), budget, thresholds={}, measure=measure)
