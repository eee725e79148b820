"""Device choice, seeding, synchronisation and a description of the machine for each record."""

from __future__ import annotations

import os
import platform
import random
import subprocess
import time
from functools import lru_cache
from pathlib import Path

import torch

from harness.errors import BenchError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def worker_gpu(worker: str | None, device_count: int) -> str:
    """The GPU of a pytest-xdist worker under ``--device auto``: ``cuda:<worker index mod device
    count>``, so ``pytest -n 8`` on an 8-GPU box gives each worker its own GPU; plain ``cuda``
    (the current device) outside xdist."""
    if not worker or not worker.startswith("gw") or not worker[2:].isdigit() or device_count < 1:
        return "cuda"
    return f"cuda:{int(worker[2:]) % device_count}"


def resolve_device(name: str, worker: str | None = None) -> torch.device:
    """``worker``: pytest-xdist's worker id (``$PYTEST_XDIST_WORKER``), which picks the GPU under ``auto``."""
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise BenchError(f"unknown device {name!r}; valid choices: {', '.join(DEVICE_CHOICES)}, cuda:N")
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device(worker_gpu(worker, torch.cuda.device_count()))
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BenchError(f"--device {name} asked for, but torch sees no CUDA device here; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BenchError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
        return device
    return torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so a timer stopped after this measures the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work):
    """Run ``work()`` between two device synchronisations; return (its result, wall seconds)."""
    synchronize(device)
    start = time.perf_counter()
    result = work()
    synchronize(device)
    return result, time.perf_counter() - start


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python and torch; return a CPU generator for batch order (independent of model init)."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def configure_backends(device: torch.device, *, deterministic: bool) -> None:
    if device.type == "cuda":
        if device.index is not None:
            # A worker's GPU is also its current device, so calls that take none (cache, RNG) stay on it.
            torch.cuda.set_device(device)
        # Autotuned kernels are faster but may differ run to run; deterministic runs give that up.
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cuda.matmul.allow_tf32 = not deterministic
        torch.backends.cudnn.allow_tf32 = not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


@lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first CPU's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (avx2, avx512_bf16, ...): what decides which kernels run."""
    return frozenset(_cpuinfo().get("flags", "").split())


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def machine_info(device: torch.device) -> dict:
    """What pytest-benchmark's machine_info and TorchBench record: enough to never mix machines."""
    import torchvision

    info = {
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpu": None,
        "gpu_driver": None,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_driver"] = _nvidia_driver()
        # Which GPU of the box: times are per GPU (the fingerprint holds the model, not the index).
        info["gpu_index"] = device.index if device.index is not None else torch.cuda.current_device()
    return info


def _nvidia_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,  # no driver is an answer, read from the exit code below
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def device_label(device: torch.device) -> str:
    """Short human label for reports: the GPU name, or the CPU model."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_model()
