"""Result records: one JSON file per case, the only thing the reporter reads besides
pytest-benchmark's JSON.

Schema (version ``SCHEMA_VERSION``; bump it when a field changes meaning or goes away):

==================  ==========================================================================
field               meaning
==================  ==========================================================================
schema_version      int, this module's ``SCHEMA_VERSION``
study               study name (``sbh``, ...)
case_id             the pytest id, e.g. ``d012-arch4-1-resnet34``
params              the case's parameters (digits, structure, backbone, train size, lr, ...;
                    sbh: ``heads`` {head: class groups in digits}, ``selection`` (the metric
                    early stopping watches), ``loss_on`` (logits/softmax), ``weights``)
profile             ``smoke``, ``full`` or ``writeup``
seed                int
device              ``cpu`` / ``cuda``; ``environment`` says which CPU or GPU
status              ``passed`` | ``failed`` (below threshold) | ``diverged`` | ``oom`` | ``error``
error               one-line message for the last three statuses, else null
traceback           for an ``error`` raised by the code: the end of its Python traceback
                    (at most 4,000 characters), else null
thresholds          {metric: minimum} that the case asserts
seed_gate           version 4, cases of an unstable group (else empty): the rule (metric, bar,
                    need, of: at least ``need`` of seeds 0 .. of-1 reach ``bar``), whether this
                    seed ``converged``, and, on the record that completed those seeds,
                    ``converged_seeds`` (the list) and ``verdict`` (``pass`` / ``fail``);
                    such a case asserts no per-seed minimum (harness.judge.judge_seeds)
metrics             {name: number}: accuracies, test loss, train/inference seconds,
                    ``latency_b32_s`` (mean seconds of one batch of 32, sbh), ``best_epoch``
                    (early stopping; ``budget.epochs_trained`` says how many ran), ...
curves              per epoch: epoch, train_loss, train_acc, eval_acc, elapsed_s (training
                    wall time so far, evaluation excluded: time-to-accuracy reads from it),
                    eval_loss, lr, best (the epoch whose weights were tested, early stopping)
timing              inference timing: median_s, min_s, mean_s, stddev_s, rounds, source,
                    rounds_s (every timed round; version 2)
model               params (count), flops_per_image (forward), description (the registry's
                    docstring), peak memory where measured
artifacts           {name: file name} of files written beside the record (weights, attributions)
instructions        version 3, study perf_instructions (else empty): total (callgrind's Ir of
                    one call of the counted statement), functions [[name, exclusive count], ...]
                    (the largest 25), valgrind, cpu_capability (SIMD level inside valgrind),
                    threads, identity (16 hex digits: what the count depends on besides the
                    code, harness/callgrind.py)
side_by_side        version 5, study speed (else empty): networks timed round-robin in one
                    process: unit, phases, rounds, warmup_rounds, order ("seeded permutation
                    per round"), and per network (``networks``) its build, batch, params,
                    flops_per_image, peak memory and ``rounds_s`` {phase: every round's seconds}
budget              epochs (the cap under early stopping), batch_size, lr, optimizer, patience,
                    monitor, min_steps, train_images, test_images, epochs_trained
environment         machine: cpu, gpu, driver, torch/torchvision/cuda versions, threads;
                    ``precision`` {train, inference, why}; version 2: ``fingerprint`` (16 hex
                    digits naming the kind of machine and run flags, harness/probe.py) and
                    ``probe`` {before, after: {matmul_s, conv_forward_s}} (host speed just
                    before and after the case)
git_commit          commit of the suite (``-dirty`` when the tree had changes)
started_at, finished_at   ISO-8601 UTC timestamps
==================  ==========================================================================
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from harness.fileio import atomic_write_bytes

SCHEMA_VERSION = 5
# Version 1 lacks timing.rounds_s and the environment's fingerprint and probe: its accuracies
# and statuses are still compared, its timings are not gated (reports/compare.py). Version 3
# adds ``instructions``, version 4 ``seed_gate``, version 5 ``side_by_side``; every other field means
# what it meant in version 2.
READABLE_VERSIONS = (1, 2, 3, 4, 5)
STATUSES = ("passed", "failed", "diverged", "oom", "error")
# A case that trained to the end and produced metrics, whether or not it met its threshold:
# the only records whose numbers the reports and the regression gate use.
MEASURED_STATUSES = ("passed", "failed")
REQUIRED_FIELDS = ("study", "case_id", "params", "profile", "seed", "device", "status", "metrics")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_path(results_dir: Path, study: str, case_id: str, seed: int) -> Path:
    """One file per case and seed, so repeated seeds sit side by side in one results directory."""
    return Path(results_dir) / study / f"{case_id}-seed{seed}.json"


@dataclass
class ResultRecord:
    study: str
    case_id: str
    params: dict
    profile: str
    seed: int
    device: str
    status: str = "error"
    error: str | None = None
    traceback: str | None = None
    thresholds: dict = field(default_factory=dict)
    seed_gate: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    curves: list = field(default_factory=list)
    timing: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    budget: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    instructions: dict = field(default_factory=dict)
    side_by_side: dict = field(default_factory=dict)
    git_commit: str | None = None
    started_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    schema_version: int = SCHEMA_VERSION

    def path_in(self, results_dir: Path) -> Path:
        return record_path(results_dir, self.study, self.case_id, self.seed)

    def write(self, results_dir: Path) -> Path:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")
        self.finished_at = utc_now()
        path = self.path_in(results_dir)
        atomic_write_bytes(path, (json.dumps(asdict(self), indent=1, sort_keys=False) + "\n").encode())
        return path


class RecordError(ValueError):
    """A file that is not a readable record of the current schema."""


def read_record(path: Path) -> ResultRecord:
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise RecordError(f"{path}: not a result record (no schema_version)")
    if raw["schema_version"] not in READABLE_VERSIONS:
        versions = ", ".join(map(str, READABLE_VERSIONS))
        raise RecordError(f"{path}: schema version {raw['schema_version']}, this reporter reads {versions}")
    missing = [n for n in REQUIRED_FIELDS if n not in raw]
    if missing:
        raise RecordError(f"{path}: missing fields {', '.join(missing)}")
    names = {f.name for f in fields(ResultRecord)}
    return ResultRecord(**{k: v for k, v in raw.items() if k in names})


def save_arrays(record: ResultRecord, results_dir: Path, key: str, stem: str, **arrays: np.ndarray) -> None:
    """Arrays beside the record as ``<study>/<stem>-seed<N>.npz`` (compressed, written atomically);
    ``record.artifacts[key]`` names the file relative to the study folder."""
    name = f"{stem}-seed{record.seed}.npz"
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(Path(results_dir) / record.study / name, buffer.getvalue())
    record.artifacts[key] = name
