"""The gate's bounds, each with the measurement it comes from (docs/gate.md)."""

from __future__ import annotations

from dataclasses import dataclass

ACC_ALPHA = 0.05
# From ten same-commit runs in separate processes on this project's CPU, one torch thread
# (docs/gate.md): the smallest bound without a false alarm among their 360 comparisons.
TIME_BOUND = 0.15
TIME_ALPHA = 0.01
# From 5+ same-commit runs of every perf_instructions case in separate processes (docs/gate.md).
INSTRUCTION_BOUND = 0.005
# The probe workloads that stand for the host's speed. The conv net forward is recorded but
# left out: it reacts to a busy moment of the host far more than any case (1.8x where the
# cases moved a few percent, docs/gate.md), which turned the host ratio into noise and
# excused real slowdowns.
HOST_SPEED_KEYS = ("matmul_s",)


@dataclass(frozen=True)
class GateSettings:
    acc_tolerance: float | None = None  # None: the baseline's seed range (reports/gate/accuracy.py)
    time_bound: float = TIME_BOUND
    time_alpha: float = TIME_ALPHA
    instruction_bound: float = INSTRUCTION_BOUND
    host_keys: tuple[str, ...] = HOST_SPEED_KEYS
