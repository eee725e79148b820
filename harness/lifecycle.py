"""The life of one training case, written once: ``run_case(plan, ctx, benchmark)``.

A study turns each of its cases into a ``CasePlan`` (what to build, which data, which budget,
which metrics, what to time); ``run_case`` seeds, loads, builds, trains, scores, stores the
test predictions, times inference, fills and judges the record and writes it. Whatever happens
inside (threshold miss, NaN loss, out of memory, missing data) the record is written with its
status and a one-line error (``recorded``), and the run goes on with the next case. Only an
interrupt (Ctrl-C) passes through unrecorded, leaving the records already written and no
partial file. A new record field is added here, in one place, for every study.
"""

from __future__ import annotations

import contextlib
import io
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

import models
from harness.checkpoint import EpochCheckpoint, checkpoint_path, discard
from harness.context import RunContext
from harness.errors import BenchError, DataUnavailable, Diverged
from harness.fileio import atomic_write_bytes
from harness.memory import training_step_peak
from harness.precision import Precision, resolve_precision
from harness.probe import fingerprint, probe
from harness.records import MEASURED_STATUSES, RecordError, ResultRecord, read_record, record_path
from harness.runtime import git_commit, machine_info, seed_everything
from harness.settings import Budget, SeedGate, TimingRounds
from harness.timing import Timing, inference_fn, mean_batch_latency, time_inference
from harness.train import DeviceData, EpochLog, Task, evaluate, fit, prepare_model

# An error record keeps the end of its traceback, where the raising frame is; this bounds the file.
TRACEBACK_CHARS = 4000


@dataclass
class Splits:
    """The data of one case on the device: ``eval`` is watched after every epoch, ``test`` scored
    once at the end (the same object when a study has no separate validation split)."""

    train: DeviceData
    eval: DeviceData
    test: DeviceData


@dataclass
class Finished:
    """What a plan's ``finish`` hook sees after training and timing, before the record is judged."""

    model: nn.Module
    record: ResultRecord
    data: Splits
    history: list[EpochLog]
    ctx: RunContext
    precision: Precision


@dataclass
class CasePlan:
    study: str
    case_id: str
    params: dict
    budget: Budget
    thresholds: dict
    timing: TimingRounds
    model: str  # registry name
    load_data: Callable[[], Splits]
    task: type[Task] | Task
    score: Callable[[dict[str, torch.Tensor], torch.Tensor], dict]  # test outputs, labels -> metrics
    model_kwargs: dict = field(default_factory=dict)
    predict: Callable[[dict[str, torch.Tensor]], torch.Tensor] = lambda outputs: outputs["logits"].argmax(1)
    measure_memory: bool = False
    latency_batch: int | None = None  # also record the mean time of one batch of this size (latency_b<N>_s)
    finish: Callable[[Finished], None] | None = None  # study-specific extras (weights, latency)
    seed_gate: SeedGate | None = None  # unstable group: judged over seeds, not per seed (thresholds empty)


def require_profile(profiles, ctx: RunContext, study: str) -> None:
    """Skip, with the reason, a case whose study does not define the session's profile."""
    if ctx.profile not in profiles:
        pytest.skip(f"{study} has no {ctx.profile!r} profile; its profiles: {', '.join(profiles)}")


def run_case(plan: CasePlan, ctx: RunContext, benchmark=None) -> ResultRecord:
    """Build, train, measure and record one case; the record is on disk whatever happens."""
    skip_if_done(ctx, plan.study, plan.case_id)
    record = new_record(plan.study, plan.case_id, plan.params, ctx, thresholds=plan.thresholds, budget=plan.budget)
    if plan.seed_gate is not None:
        record.seed_gate = asdict(plan.seed_gate)
    with recorded(record, ctx.results_dir):
        data = plan.load_data()
        precision = resolve_precision(
            ctx.precision, ctx.device, profile_precision=plan.budget.precision, model=plan.model
        )
        record.environment["precision"] = precision.as_record()
        generator = seed_everything(ctx.seed)
        model = prepare_model(models.create(plan.model, **plan.model_kwargs), ctx.device, compile=ctx.compile)
        example, example_y = data.train.batch(
            torch.arange(min(plan.budget.batch_size, len(data.train)), device=ctx.device), ctx.device
        )
        record.model = {**model_stats(model, example), "description": models.describe(plan.model)}
        weights = {getattr(m, "weights", None) for m in model.modules()} - {None}
        if weights:  # backbones say how they were initialised: "none", "imagenet" or the file loaded
            record.params["weights"] = ", ".join(sorted(weights))
        if plan.measure_memory:
            record.model.update(training_step_peak(model, example, example_y, plan.task, plan.budget, precision))
        checkpoint = epoch_checkpoint(plan, ctx, record)
        history, outputs = fit(
            model,
            data.train,
            data.eval,
            plan.task,
            plan.budget,
            device=ctx.device,
            generator=generator,
            precision=precision,
            name=plan.case_id,
            checkpoint=checkpoint,
        )
        if checkpoint is not None and checkpoint.resumed_after:
            record.environment["resumed_after_epoch"] = checkpoint.resumed_after
        if data.test is not data.eval:
            outputs = evaluate(
                model, data.test, batch_size=plan.budget.eval_batch_size, device=ctx.device, precision=precision
            )
        record.metrics.update(plan.score(outputs, data.test.labels))
        predictions = plan.predict(outputs)
        run_inference = inference_fn(
            model, data.test, batch_size=plan.budget.eval_batch_size, device=ctx.device, precision=precision
        )
        timing = time_inference(
            benchmark, run_inference, rounds=plan.timing.rounds, warmup_rounds=plan.timing.warmup, device=ctx.device
        )
        fill_training(record, history, timing, train_images=len(data.train), test_images=len(data.test))
        if plan.latency_batch:
            record.metrics[f"latency_b{plan.latency_batch}_s"] = mean_batch_latency(
                model, data.test, batch_size=plan.latency_batch, device=ctx.device, precision=precision
            )
        if plan.finish is not None:
            plan.finish(Finished(model, record, data, history, ctx, precision))
        judge(record)
        judge_seeds(record, ctx.results_dir)
        # Last, just before the record: a case stopped earlier leaves no file that has no record.
        save_predictions(record, ctx.results_dir, predictions, data.test.labels)
        if benchmark is not None:
            benchmark.extra_info.update(status=record.status, **{k: record.metrics.get(k) for k in record.thresholds})
    # The record is on disk, whatever its status: the training state has served (an interrupt
    # skips this line and keeps it for the next --skip-done run).
    discard(checkpoint_path(ctx.results_dir, plan.study, plan.case_id, ctx.seed))
    return record


def epoch_checkpoint(plan: CasePlan, ctx: RunContext, record: ResultRecord) -> EpochCheckpoint | None:
    """With --skip-done (the resume mode), the case's training state between epochs; it belongs
    to this case, seed, profile, budget, precision, device type and commit, nothing else."""
    if not ctx.skip_done:
        return None
    identity = {
        "study": plan.study,
        "case_id": plan.case_id,
        "params": plan.params,
        "seed": ctx.seed,
        "profile": ctx.profile,
        "model": plan.model,
        "budget": asdict(plan.budget),
        "precision": record.environment.get("precision"),
        "device": ctx.device.type,
        "git_commit": record.git_commit,
    }
    return EpochCheckpoint(checkpoint_path(ctx.results_dir, plan.study, plan.case_id, ctx.seed), identity)


@contextlib.contextmanager
def recorded(record: ResultRecord, results_dir: Path):
    """Run a case's body; write its record whatever happens, with the host-speed probe
    (``harness.probe``) timed just before and just after the body."""
    device = torch.device(record.device)
    record.environment["probe"] = {"before": probe(device)}
    try:
        yield record
    except DataUnavailable as exc:
        record.status, record.error = "error", f"not run: {exc}"
        record.write(results_dir)
        pytest.skip(str(exc))
    except Diverged as exc:
        record.status, record.error = "diverged", str(exc)
    except torch.OutOfMemoryError:
        batch = record.budget.get("batch_size")
        record.status, record.error = "oom", f"out of memory on {record.device} at batch size {batch}"
        if torch.cuda.is_available():
            torch.cuda.empty_cache()  # hand the cached blocks back so the next case starts clean
    except BenchError as exc:
        record.status, record.error = "error", str(exc)
    except Exception as exc:
        record.status, record.error = "error", _one_line(f"{type(exc).__name__}: {exc}")
        record.traceback = traceback.format_exc()[-TRACEBACK_CHARS:]
    record.environment["probe"]["after"] = probe(device)
    record.write(results_dir)


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def skip_if_done(ctx: RunContext, study: str, case_id: str) -> None:
    """With ``--skip-done``, skip a case whose complete record (passed or failed) for this
    profile and seed is already in the results directory, so an interrupted run resumes."""
    if not ctx.skip_done:
        return
    path = record_path(ctx.results_dir, study, case_id, ctx.seed)
    try:
        done = read_record(path)
    except RecordError:
        return
    if done.status in MEASURED_STATUSES and done.profile == ctx.profile and done.seed == ctx.seed:
        pytest.skip(f"--skip-done: {path} holds a {done.status} record from {done.finished_at}")


def judge(record: ResultRecord) -> None:
    """Set passed/failed from the record's metrics and thresholds (each threshold is a minimum)."""
    misses = [
        f"{name} {record.metrics.get(name, float('nan')):.4f} < {minimum:.4f}"
        for name, minimum in record.thresholds.items()
        if not record.metrics.get(name, float("-inf")) >= minimum
    ]
    record.status = "failed" if misses else "passed"
    record.error = f"below threshold: {', '.join(misses)}" if misses else None
    if record.seed_gate:
        record.seed_gate["converged"] = converged(record, record.seed_gate)


def converged(record: ResultRecord, gate: dict) -> bool:
    """Whether this run reached the gate's bar (a run that diverged did not)."""
    value = record.metrics.get(gate["metric"])
    return record.status != "diverged" and value is not None and value >= gate["bar"]


def judge_seeds(record: ResultRecord, results_dir: Path) -> None:
    """An unstable group's verdict, given by the record that completes seeds 0 .. of-1 of its case
    (in any order, across sessions with --skip-done): it fails when fewer than ``need`` of them
    reached the bar. The other seeds are read from their records and measured against today's
    rule; a seed missing, errored or from another profile leaves the case without a verdict."""
    gate = record.seed_gate
    if not gate or record.status != "passed" or record.seed >= gate["of"]:
        return
    reached = []
    for seed in range(gate["of"]):
        other = record
        if seed != record.seed:
            try:
                other = read_record(record_path(results_dir, record.study, record.case_id, seed))
            except RecordError:
                return
            if other.profile != record.profile or other.status not in (*MEASURED_STATUSES, "diverged"):
                return
        if converged(other, gate):
            reached.append(seed)
    passed = len(reached) >= gate["need"]
    gate.update(converged_seeds=reached, verdict="pass" if passed else "fail")
    if not passed:
        record.status = "failed"
        record.error = (
            f"seed gate: {len(reached)} of seeds 0-{gate['of'] - 1} reached {gate['metric']} >= {gate['bar']:.2f} "
            f"(converged: {reached or 'none'}); the group needs {gate['need']}"
        )


def check_passed(record: ResultRecord) -> None:
    """The assertion of every case, after its record is on disk."""
    if record.status != "passed":
        pytest.fail(f"{record.case_id} [{record.status}] {record.error}", pytrace=False)


def model_stats(model: nn.Module, example: torch.Tensor) -> dict:
    """Parameter count and forward FLOPs per image (torch's counter: one multiply-add = 2 FLOPs)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(example[:1])
    model.train(was_training)
    return {"params": sum(p.numel() for p in model.parameters()), "flops_per_image": counter.get_total_flops()}


def new_record(
    study: str, case_id: str, params: dict, ctx: RunContext, *, thresholds: dict, budget: Budget
) -> ResultRecord:
    return ResultRecord(
        study=study,
        case_id=case_id,
        params=params,
        profile=ctx.profile,
        seed=ctx.seed,
        device=ctx.device.type,
        thresholds=dict(thresholds),
        budget=asdict(budget),
        environment=with_fingerprint(
            {**machine_info(ctx.device), "deterministic": ctx.deterministic, "torch_compile": ctx.compile}
        ),
        git_commit=git_commit(),
    )


def with_fingerprint(environment: dict) -> dict:
    return {**environment, "fingerprint": fingerprint(environment)}


def fill_training(
    record: ResultRecord, history: list[EpochLog], timing: Timing, *, train_images: int, test_images: int
) -> None:
    record.curves = [asdict(h) for h in history]
    train_s = history[-1].elapsed_s if history else 0.0
    best = [h.epoch for h in history if h.best]
    if best:  # early stopping: the tested weights are this epoch's
        record.metrics.update(best_epoch=best[0])
    record.metrics.update(
        train_s=train_s,
        s_per_epoch=train_s / max(len(history), 1),
        train_loss=history[-1].train_loss if history else None,
        train_acc=history[-1].train_acc if history else None,
        inference_s=timing.median_s,
        inference_images_per_s=test_images / timing.median_s,
    )
    record.timing = asdict(timing)
    # The epochs actually trained: min_steps can raise them, early stopping can cut them short.
    record.budget.update(train_images=train_images, test_images=test_images, epochs_trained=len(history))


def save_arrays(record: ResultRecord, results_dir: Path, key: str, stem: str, **arrays: np.ndarray) -> None:
    """Arrays beside the record as ``<study>/<stem>-seed<N>.npz`` (compressed, written atomically);
    ``record.artifacts[key]`` names the file relative to the study folder."""
    name = f"{stem}-seed{record.seed}.npz"
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(Path(results_dir) / record.study / name, buffer.getvalue())
    record.artifacts[key] = name


def save_predictions(record: ResultRecord, results_dir: Path, predictions: torch.Tensor, labels: torch.Tensor) -> None:
    """Test-set predictions beside the record, so paired tests between models can run later."""
    as_int16 = {"predictions": predictions, "labels": labels}
    save_arrays(
        record,
        results_dir,
        "predictions",
        f"predictions/{record.case_id}",
        **{k: v.cpu().numpy().astype(np.int16) for k, v in as_int16.items()},
    )
