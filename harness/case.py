"""Running one benchmark case so that it always leaves a record.

``recorded(record, results_dir)`` wraps a case: whatever happens inside (threshold miss,
NaN loss, out of memory, missing data) the record is written with its status and a
one-line error, and the run goes on with the next case. Only an interrupt (Ctrl-C) passes
through unrecorded, leaving the records already written and no partial file.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from harness.context import RunContext
from harness.errors import BenchError, DataUnavailable, Diverged
from harness.fileio import atomic_write_bytes
from harness.records import RecordError, ResultRecord, read_record, record_path
from harness.runtime import git_commit, machine_info
from harness.timing import Timing
from harness.train import Budget, EpochLog


@contextlib.contextmanager
def recorded(record: ResultRecord, results_dir: Path):
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
    except Exception as exc:  # noqa: BLE001  (recorded, then reported by check_passed)
        record.status, record.error = "error", _one_line(f"{type(exc).__name__}: {exc}")
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
    if done.status in ("passed", "failed") and done.profile == ctx.profile and done.seed == ctx.seed:
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


def new_record(study: str, case_id: str, params: dict, ctx: RunContext, *, thresholds: dict, budget: Budget) -> ResultRecord:
    return ResultRecord(
        study=study,
        case_id=case_id,
        params=params,
        profile=ctx.profile,
        seed=ctx.seed,
        device=ctx.device.type,
        thresholds=dict(thresholds),
        budget=asdict(budget),
        environment={**machine_info(ctx.device), "deterministic": ctx.deterministic, "torch_compile": ctx.compile},
        git_commit=git_commit(),
    )


def fill_training(record: ResultRecord, history: list[EpochLog], timing: Timing, *, train_images: int, test_images: int) -> None:
    record.curves = [asdict(h) for h in history]
    train_s = history[-1].elapsed_s if history else 0.0
    record.metrics.update(
        train_s=train_s,
        s_per_epoch=train_s / max(len(history), 1),
        train_loss=history[-1].train_loss if history else None,
        train_acc=history[-1].train_acc if history else None,
        inference_s=timing.median_s,
        inference_images_per_s=test_images / timing.median_s,
    )
    record.timing = asdict(timing)
    record.budget.update(train_images=train_images, test_images=test_images)


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
    save_arrays(record, results_dir, "predictions", f"predictions/{record.case_id}", **{k: v.cpu().numpy().astype(np.int16) for k, v in as_int16.items()})
