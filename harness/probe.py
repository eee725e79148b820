"""How fast this host is right now, and which kind of machine it is.

``probe()`` times a small fixed workload in the case's own process, just before and just
after the case (``harness.runner.recorded``). A host that is uniformly slower today (a
busy neighbour, a lower clock, a migrated VM) makes the probe and the case slower alike, so
the regression gate divides a case's time ratio by the matmul probe's (``reports/compare.py``).
The conv net forward is recorded too, but it reacts to a busy moment of the host far more
than any case does (1.8x where the cases moved a few percent: docs/gate.md), so the gate
leaves it out.

``fingerprint()`` names what decides speed: the same value on the same kind of machine
across processes and days (no hostname, no clock), another value when the CPU, its flags,
the core or thread count, the GPU or its driver, the torch/CUDA/cuDNN build, or the
deterministic/compile settings differ. Timings are only compared between equal fingerprints.
"""

from __future__ import annotations

import hashlib
import json
import time

import torch
import torch.nn as nn

from harness.runtime import cpu_flags, synchronize

# Each workload is repeated and its fastest repeat kept (noise only ever slows a run down).
PROBE_REPEATS = 9
_MATMUL_N = 1024
_CONV_BATCH = 256


def _conv_net() -> nn.Module:
    torch.manual_seed(0)  # fixed weights; the caller's seeding runs after the probe
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def _fastest(device: torch.device, work) -> float:
    for _ in range(PROBE_REPEATS):  # warm-up: allocation, kernel selection, the thread pool waking
        work()
    best = float("inf")
    for _ in range(PROBE_REPEATS):
        synchronize(device)
        start = time.perf_counter()
        work()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def probe(device: torch.device) -> dict[str, float]:
    """Seconds of two fixed fp32 workloads on ``device``: a dense matmul and a small conv net forward.
    Leaves torch's global random state as it found it."""
    state = torch.random.get_rng_state()
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(_MATMUL_N, _MATMUL_N, generator=generator).to(device)
        x = torch.randn(_CONV_BATCH, 1, 28, 28, generator=generator).to(device)
        net = _conv_net().to(device).eval()
        return {
            "matmul_s": _fastest(device, lambda: a @ a),
            "conv_forward_s": _fastest(device, lambda: net(x)),
        }
    finally:
        torch.random.set_rng_state(state)


def fingerprint_parts(environment: dict) -> dict:
    """What of a record's ``environment`` decides speed (``machine_info`` plus the run's flags)."""
    keys = ("cpu", "cpu_count", "torch_threads", "gpu", "gpu_driver", "torch", "cuda", "cudnn")
    parts = {k: environment.get(k) for k in keys}
    parts.update(
        cpu_flags=sorted(cpu_flags()),
        deterministic=environment.get("deterministic"),
        torch_compile=environment.get("torch_compile"),
    )
    return parts


def fingerprint(environment: dict) -> str:
    """16 hex digits of the SHA-256 of ``fingerprint_parts``."""
    text = json.dumps(fingerprint_parts(environment), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
