"""The rules that give a case its verdict, written once and free of torch.

The runner judges each record with them (``judge``, ``judge_seeds``), the calibration command
derives bars with them (``bar``), and the reports and the regression gate count seeds with
them (``reached``), so the pass/fail of a run, the bar it is held to and the seeds a report
counts as converged cannot drift apart. docs/thresholds.md states the rules in words.
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.records import MEASURED_STATUSES, RecordError, ResultRecord, read_record, record_path

# A 3-class task guessed at random scores 1/3; an untrained network does not reach this
# (tests/test_training.py). It is the bar of a group that has no calibration runs, the line
# below which a run counts as collapsed (its group is then seed-gated), and the lowest bar
# that calibration sets.
FLOOR = 0.5
# The smallest distance between the lowest measured run and its bar; also how far our mean may
# lie from a write-up's value and still "agree", and the accuracy drop the gate allows when
# the baseline has no seed spread.
MARGIN = 0.01
# The margin when the seed spread is unmeasured and the range between structures stands in.
ONE_SEED_MARGIN = 0.02
# A seed-gated group passes when this many of its seeds 0 .. SEED_GATE_OF - 1 converge.
SEED_GATE_NEED, SEED_GATE_OF = 2, 3


def bar(lowest: float, margin: float = MARGIN) -> float:
    """The documented rule: (lowest - margin), floored to 0.01."""
    return math.floor((lowest - margin) * 100) / 100


def reached(value, threshold, status):
    """Whether a run reached a bar: its value at or above it (a missing value never does) and
    it did not diverge. Works on scalars and elementwise on pandas Series alike."""
    return (value >= threshold) & (status != "diverged")


def misses(metrics: dict, thresholds: dict) -> list[str]:
    """The thresholds (each a minimum) that the metrics miss, as ``name value < minimum``."""
    return [
        f"{name} {metrics.get(name, float('nan')):.4f} < {minimum:.4f}"
        for name, minimum in thresholds.items()
        if not metrics.get(name, float("-inf")) >= minimum
    ]


def judge(record: ResultRecord) -> None:
    """Set passed/failed from the record's metrics and thresholds (each threshold is a minimum)."""
    missed = misses(record.metrics, record.thresholds)
    record.status = "failed" if missed else "passed"
    record.error = f"below threshold: {', '.join(missed)}" if missed else None
    if record.seed_gate:
        record.seed_gate["converged"] = converged(record, record.seed_gate)


def converged(record: ResultRecord, gate: dict) -> bool:
    """Whether this run reached the gate's bar (a run that diverged did not)."""
    value = record.metrics.get(gate["metric"])
    return bool(reached(math.nan if value is None else value, gate["bar"], record.status))


def judge_seeds(record: ResultRecord, results_dir: Path) -> None:
    """An unstable group's verdict, given by the record that completes seeds 0 .. of-1 of its case
    (in any order, across sessions with --skip-done): it fails when fewer than ``need`` of them
    reached the bar. The other seeds are read from their records and measured against today's
    rule; a seed missing, errored or from another profile leaves the case without a verdict."""
    gate = record.seed_gate
    if not gate or record.status != "passed" or record.seed >= gate["of"]:
        return
    got = []
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
            got.append(seed)
    passed = len(got) >= gate["need"]
    gate.update(converged_seeds=got, verdict="pass" if passed else "fail")
    if not passed:
        record.status = "failed"
        record.error = (
            f"seed gate: {len(got)} of seeds 0-{gate['of'] - 1} reached {gate['metric']} >= {gate['bar']:.2f} "
            f"(converged: {got or 'none'}); the group needs {gate['need']}"
        )
