"""A training case's measure step, written once: ``training_job(plan, ctx, benchmark)``.

A study turns each of its cases into a ``CasePlan`` (how to build the network, which data,
which budget, which metrics, what to time); the job's ``measure`` seeds, loads, builds,
trains, scores, times inference, stores the test predictions and fills the record. The one
runner (``harness.runner.run``) owns the rest: skip-if-done, the record, the probe, the
verdict and the write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from harness.checkpoint import EpochCheckpoint, checkpoint_path, discard
from harness.context import RunContext
from harness.flops import model_stats
from harness.memory import training_step_peak
from harness.precision import Precision, resolve_precision
from harness.records import ResultRecord, save_arrays
from harness.runner import Job
from harness.runtime import seed_everything
from harness.settings import Budget, SeedGate, TimingRounds
from harness.timing import Timing, inference_fn, mean_batch_latency, time_inference
from harness.train import DeviceData, EpochLog, Task, evaluate, fit, prepare_model


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
    model: str  # registry name (precision.py's per-model choices read it)
    build: Callable[[], nn.Module]  # the network, untrained (the plan calls models.create)
    description: str  # of the network, for the record
    load_data: Callable[[], Splits]
    task: type[Task] | Task
    score: Callable[[dict[str, torch.Tensor], torch.Tensor], dict]  # test outputs, labels -> metrics
    predict: Callable[[dict[str, torch.Tensor]], torch.Tensor] = lambda outputs: outputs["logits"].argmax(1)
    measure_memory: bool = False
    latency_batch: int | None = None  # also record the mean time of one batch of this size (latency_b<N>_s)
    finish: Callable[[Finished], None] | None = None  # study-specific extras (weights, latency)
    seed_gate: SeedGate | None = None  # unstable group: judged over seeds, not per seed (thresholds empty)


def training_job(plan: CasePlan, ctx: RunContext, benchmark=None) -> Job:
    """The runner's job for a training case: ``measure`` builds, trains, scores and times the
    network; once the record is written, the case's saved training state has served."""

    def measure(record: ResultRecord) -> None:
        data = plan.load_data()
        precision = resolve_precision(
            ctx.precision, ctx.device, profile_precision=plan.budget.precision, model=plan.model
        )
        record.environment["precision"] = precision.as_record()
        generator = seed_everything(ctx.seed)
        model = prepare_model(plan.build(), ctx.device, compile=ctx.compile)
        example, example_y = data.train.batch(
            torch.arange(min(plan.budget.batch_size, len(data.train)), device=ctx.device), ctx.device
        )
        record.model = {**model_stats(model, example), "description": plan.description}
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
        # Last: a case stopped earlier leaves no predictions file without a record.
        save_predictions(record, ctx.results_dir, predictions, data.test.labels)

    def written(record: ResultRecord) -> None:
        if benchmark is not None:
            benchmark.extra_info.update(status=record.status, **{k: record.metrics.get(k) for k in record.thresholds})
        # An interrupt never gets here and keeps the state for the next --skip-done run.
        discard(checkpoint_path(ctx.results_dir, plan.study, plan.case_id, ctx.seed))

    return Job(
        study=plan.study,
        case_id=plan.case_id,
        params=plan.params,
        budget=plan.budget,
        thresholds=plan.thresholds,
        measure=measure,
        seed_gate=plan.seed_gate,
        written=written,
    )


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
