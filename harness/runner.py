"""The one runner of every case of every study: ``run(job, ctx)``.

A study supplies a ``Job``: what the case is (study, id, parameters, budget, thresholds) and
its ``measure`` step, which fills the record (a training case trains and times a network,
``harness.training``; ``perf`` times pipelines; ``perf_instructions`` counts instructions).
``run`` owns everything around it, the same for all: skip if done, the new record with its
machine fingerprint, the host-speed probe before and after, the verdict (``harness.judge``)
and the write. Whatever happens inside ``measure`` (threshold miss, NaN loss, out of memory,
missing data) the record is written with its status and a one-line error, and the run goes on
with the next case; only an interrupt (Ctrl-C) passes through unrecorded, leaving the records
already written and no partial file. A new record field for every study is added here.

The runner raises ``CaseSkipped`` and ``CaseFailed`` (``harness.errors``); the pytest layer
(conftest.py) turns them into skips and failures.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from harness.context import RunContext
from harness.errors import BenchError, CaseFailed, CaseSkipped, DataUnavailable, Diverged
from harness.judge import judge, judge_seeds
from harness.probe import fingerprint, probe
from harness.records import MEASURED_STATUSES, RecordError, ResultRecord, read_record, record_path
from harness.runtime import git_commit, machine_info
from harness.settings import Budget, SeedGate

# An error record keeps the end of its traceback, where the raising frame is; this bounds the file.
TRACEBACK_CHARS = 4000


@dataclass
class Job:
    """One case as the runner sees it: what it is, and the step that measures it."""

    study: str
    case_id: str
    params: dict
    budget: Budget
    thresholds: dict
    measure: Callable[[ResultRecord], None]  # fills metrics, model, timing ... of the record
    seed_gate: SeedGate | None = None  # unstable group: judged over seeds, not per seed (thresholds empty)
    written: Callable[[ResultRecord], None] | None = None  # after the record is on disk, whatever its status


def run(job: Job, ctx: RunContext) -> ResultRecord:
    """Measure, judge and record one case; the record is on disk whatever happens."""
    skip_if_done(ctx, job.study, job.case_id)
    record = new_record(job.study, job.case_id, job.params, ctx, thresholds=job.thresholds, budget=job.budget)
    if job.seed_gate is not None:
        record.seed_gate = asdict(job.seed_gate)
    with recorded(record, ctx.results_dir):
        job.measure(record)
        judge(record)
        judge_seeds(record, ctx.results_dir)
    if job.written is not None:
        job.written(record)
    return record


def require_profile(profiles, ctx: RunContext, study: str) -> None:
    """Skip, with the reason, a case whose study does not define the session's profile."""
    if ctx.profile not in profiles:
        raise CaseSkipped(f"{study} has no {ctx.profile!r} profile; its profiles: {', '.join(profiles)}")


def check_passed(record: ResultRecord) -> None:
    """The assertion of every case, after its record is on disk."""
    if record.status != "passed":
        raise CaseFailed(f"{record.case_id} [{record.status}] {record.error}")


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
        raise CaseSkipped(str(exc)) from None
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
        raise CaseSkipped(f"--skip-done: {path} holds a {done.status} record from {done.finished_at}")


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
