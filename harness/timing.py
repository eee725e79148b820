"""Inference timing, the one place every study measures speed.

The timed callable runs the model over the whole prepared test split and synchronises the
device before returning, so each round measures finished work. Warm-up rounds are not
timed; data preparation happens before, accuracy evaluation elsewhere.
pytest-benchmark does the timing when it is active; when it is disabled (``--benchmark-disable``,
or under xdist) the same rounds are timed here with ``perf_counter`` and the record says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from harness.precision import FP32, Precision
from harness.runtime import synchronize, timed
from harness.train import DeviceData, evaluate


@dataclass(frozen=True)
class Timing:
    median_s: float
    min_s: float
    mean_s: float
    stddev_s: float
    rounds: int
    source: str  # "pytest-benchmark" or "perf_counter"
    rounds_s: list[float]  # every timed round, for a rank test between runs (reports/compare.py)

    @classmethod
    def from_samples(cls, samples: list[float], source: str) -> Timing:
        return cls(
            median_s=statistics.median(samples),
            min_s=min(samples),
            mean_s=statistics.fmean(samples),
            stddev_s=statistics.stdev(samples) if len(samples) > 1 else 0.0,
            rounds=len(samples),
            source=source,
            rounds_s=list(samples),
        )


def inference_fn(
    model: nn.Module, data: DeviceData, *, batch_size: int, device: torch.device, precision: Precision = FP32
) -> Callable[[], None]:
    def run() -> None:
        evaluate(model, data, batch_size=batch_size, device=device, precision=precision)
        synchronize(device)

    return run


def time_inference(
    benchmark, fn: Callable[[], None], *, rounds: int, warmup_rounds: int, device: torch.device
) -> Timing:
    """Time ``fn`` with the pytest-benchmark fixture (``benchmark`` may be None outside pytest)."""
    if benchmark is not None and not benchmark.disabled:
        benchmark.pedantic(fn, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
        return Timing.from_samples(list(benchmark.stats.stats.data), "pytest-benchmark")
    for _ in range(warmup_rounds):
        fn()
    samples = [timed(device, fn)[1] for _ in range(rounds)]
    return Timing.from_samples(samples, "perf_counter")


@torch.inference_mode()
def mean_batch_latency(
    model: nn.Module, data: DeviceData, *, batch_size: int, device: torch.device, precision: Precision = FP32
) -> float:
    """Mean seconds of one ``model(batch)`` call over the split's full batches of ``batch_size``:
    the unit of write-up 001's Fig. 3 (the authors timed each test batch of 32). Inputs are
    prepared before each timer starts and the device is synchronised on both sides of the call,
    so the time is the model's work alone."""
    model.eval()
    times = []
    for start in range(0, len(data) - batch_size + 1, batch_size):
        x, _ = data.batch(torch.arange(start, start + batch_size, device=device), device)
        with precision.autocast(device, training=False):
            times.append(timed(device, lambda x=x: model(x))[1])
    if not times:
        raise ValueError(f"no full batch of {batch_size} in a split of {len(data)} images")
    return statistics.fmean(times)
