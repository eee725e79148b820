"""Numeric precision of training and inference: ``--precision {auto,fp32,bf16}``.

bf16 runs under ``torch.autocast`` (matmuls and convolutions in bf16, reductions, losses and
the optimizer in fp32). bf16 keeps fp32's exponent range, so no loss scaler is needed.

``auto`` picks bf16 where the hardware computes it natively: a CUDA device that supports
bf16, or a CPU whose flags (read from ``/proc/cpuinfo`` at start-up, not guessed from the
vendor) include ``avx512_bf16`` or ``amx_bf16``; fp32 elsewhere. Two exceptions keep fp32:
a profile that names fp32 (the write-ups' own protocols ran fp32), and, on the CPU, the
training of models in ``CPU_FP32_TRAINING`` and the inference of models in
``CPU_FP32_INFERENCE``, where bf16 measured slower than fp32 on this project's CPU
(``python -m studies.perf.precision``, PERFORMANCE.md "Precision"). An explicit ``fp32`` or
``bf16`` overrides both.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch

from harness.runtime import cpu_flags

PRECISION_CHOICES = ("auto", "fp32", "bf16")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# Registry names whose bf16 training step / inference was slower than fp32 on the 2-core EPYC
# with AVX512-BF16 (median of interleaved blocks in one process, 2026-11-28; the sets that
# ``studies.perf.precision`` derives from runs/precision/cpu-avx512bf16.json, tested).
CPU_FP32_TRAINING: frozenset[str] = frozenset({"sppf"})
CPU_FP32_INFERENCE: frozenset[str] = frozenset({"lenet5-new", "sppf", "transformer"})


def native_bf16(device: torch.device) -> str | None:
    """Why this device computes bf16 natively (a short phrase), or None when it does not."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} supports bf16" if torch.cuda.is_bf16_supported() else None
    flags = [f for f in CPU_BF16_FLAGS if f in cpu_flags()]
    # oneDNN runs the bf16 convolutions; a torch built without it falls back to conversions.
    return f"CPU flag {flags[0]}" if flags and torch.backends.mkldnn.is_available() else None


@dataclass(frozen=True)
class Precision:
    train: str  # "fp32" or "bf16"
    inference: str
    why: str  # how it was chosen, for the header and the record

    def autocast(self, device: torch.device, *, training: bool):
        if (self.train if training else self.inference) != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

    @property
    def label(self) -> str:
        if self.train == self.inference:
            return self.train
        return f"{self.train} training, {self.inference} inference"

    def as_record(self) -> dict:
        return {"train": self.train, "inference": self.inference, "why": self.why}


FP32 = Precision("fp32", "fp32", "fp32 asked for")


def check_precision(value: str) -> str:
    if value not in PRECISION_CHOICES:
        raise ValueError(f"--precision {value!r}: valid choices: {', '.join(PRECISION_CHOICES)}")
    return value


def resolve_precision(
    asked: str, device: torch.device, *, profile_precision: str = "auto", model: str | None = None
) -> Precision:
    """The precision one case runs in: ``asked`` (the command line) over the profile's choice,
    ``auto`` resolved for the device and, on the CPU, for the model's training."""
    check_precision(asked)
    if asked == "fp32":
        return FP32
    if asked == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bf16 support")
        return Precision("bf16", "bf16", "bf16 asked for")
    if profile_precision != "auto":
        chosen = resolve_precision(profile_precision, device)
        return replace(chosen, why=f"{profile_precision}: the profile's precision")
    reason = native_bf16(device)
    if reason is None:
        return Precision("fp32", "fp32", f"auto: no native bf16 on this {device.type}")
    if device.type != "cpu":
        return Precision("bf16", "bf16", f"auto: {reason}")
    train = "fp32" if model in CPU_FP32_TRAINING else "bf16"
    inference = "fp32" if model in CPU_FP32_INFERENCE else "bf16"
    slower = [part for part, p in (("training", train), ("inference", inference)) if p == "fp32"]
    if slower:
        reason += f"; {model}'s {' and '.join(slower)} measured faster in fp32 on this CPU"
    return Precision(train, inference, f"auto: {reason}")


def session_precision(asked: str, device: torch.device) -> str:
    """One line for the pytest header: what ``asked`` means on this device."""
    if asked != "auto":
        return asked
    reason = native_bf16(device)
    if reason is None:
        return f"auto -> fp32 (no native bf16 on this {device.type})"
    exceptions = ""
    if device.type == "cpu":
        for part, names in (("training", CPU_FP32_TRAINING), ("inference", CPU_FP32_INFERENCE)):
            if names:
                exceptions += f"; fp32 {part} for {', '.join(sorted(names))}"
    return f"auto -> bf16 ({reason}{exceptions}; fp32 where a profile names it)"
