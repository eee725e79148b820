"""``--precision``: what ``auto`` picks from the CPU's flags, what each choice runs, and that
the choice reaches the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from harness import precision as prec
from harness.precision import FP32, Precision, resolve_precision

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def flags(monkeypatch):
    def use(*names: str) -> None:
        monkeypatch.setattr(prec, "cpu_flags", lambda: frozenset(("sse2", "avx2", *names)))

    return use


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_auto_picks_bf16_on_a_cpu_with_native_bf16(flags, flag):
    flags("avx512f", flag)
    chosen = resolve_precision("auto", CPU, model="resnet18")
    assert (chosen.train, chosen.inference) == ("bf16", "bf16") and flag in chosen.why


def test_auto_keeps_fp32_on_a_cpu_without_it(flags):
    flags("avx512f")  # AVX-512 without its BF16 extension computes bf16 by conversion: slower than fp32
    assert resolve_precision("auto", CPU).label == "fp32"


def test_a_profile_that_names_fp32_wins_over_auto_but_not_over_an_explicit_choice(flags):
    flags("avx512_bf16")
    assert resolve_precision("auto", CPU, profile_precision="fp32").label == "fp32"
    assert "profile" in resolve_precision("auto", CPU, profile_precision="fp32").why
    assert resolve_precision("bf16", CPU, profile_precision="fp32").label == "bf16"
    assert resolve_precision("fp32", CPU).label == "fp32"


def test_models_listed_for_fp32_training_train_in_fp32_and_infer_in_bf16(flags, monkeypatch):
    flags("avx512_bf16")
    monkeypatch.setattr(prec, "CPU_FP32_TRAINING", frozenset({"lenet5-new"}))
    monkeypatch.setattr(prec, "CPU_FP32_INFERENCE", frozenset())
    chosen = resolve_precision("auto", CPU, model="lenet5-new")
    assert (chosen.train, chosen.inference) == ("fp32", "bf16")
    assert chosen.label == "fp32 training, bf16 inference" and "training measured faster in fp32" in chosen.why
    assert resolve_precision("auto", CPU, model="resnet18").train == "bf16"


def test_models_listed_for_fp32_inference_keep_it_and_the_header_names_both_lists(flags, monkeypatch):
    flags("avx512_bf16")
    monkeypatch.setattr(prec, "CPU_FP32_TRAINING", frozenset({"sppf"}))
    monkeypatch.setattr(prec, "CPU_FP32_INFERENCE", frozenset({"sppf", "transformer"}))
    assert resolve_precision("auto", CPU, model="transformer").label == "bf16 training, fp32 inference"
    assert resolve_precision("auto", CPU, model="sppf").label == "fp32"
    assert resolve_precision("auto", CPU, model="vgg").label == "bf16"
    assert resolve_precision("auto", CPU, profile_precision="fp32", model="vgg").label == "fp32"
    header = prec.session_precision("auto", CPU)
    assert "fp32 training for sppf" in header and "fp32 inference for sppf, transformer" in header


def test_the_fp32_lists_are_what_the_stored_measurement_gives():
    """The lists are derived, not chosen: bf16 slower than fp32 (median of interleaved blocks)
    in the measurement kept in the repository (PERFORMANCE.md, "Precision")."""
    from studies.perf.precision import slower_in_bf16

    stored = json.loads((ROOT / "runs" / "precision" / "cpu-avx512bf16.json").read_text())
    assert slower_in_bf16(stored, "train_images_per_s") == prec.CPU_FP32_TRAINING
    assert slower_in_bf16(stored, "inference_images_per_s") == prec.CPU_FP32_INFERENCE


def test_a_model_measured_on_several_backbones_follows_most_of_them():
    from studies.perf.precision import slower_in_bf16

    def row(subject, fp32, bf16):
        rates = {"train_images_per_s": fp32, "inference_images_per_s": fp32}
        return {"subject": subject, "rates": {"fp32": rates, "bf16": dict.fromkeys(rates, bf16)}}

    one_slower = [
        row("arch3-resnet18", [10, 10], [9, 9]),
        row("arch3-resnet34", [10], [12]),
        row("arch3-resnet50", [10], [11]),
    ]
    assert slower_in_bf16(one_slower, "train_images_per_s") == frozenset()
    assert slower_in_bf16([*one_slower[:1], row("arch3-resnet34", [10], [8])], "train_images_per_s") == {"arch3"}


def test_unknown_choice_is_a_one_line_error():
    with pytest.raises(ValueError, match="valid choices: auto, fp32, bf16"):
        resolve_precision("fp16", CPU)


def test_bf16_runs_the_matmuls_in_bf16_and_fp32_does_not():
    layer = nn.Linear(8, 4)
    x = torch.randn(2, 8)
    bf16 = Precision("bf16", "fp32", "test")
    with bf16.autocast(CPU, training=True):
        assert layer(x).dtype == torch.bfloat16
    with bf16.autocast(CPU, training=False):
        assert layer(x).dtype == torch.float32
    with FP32.autocast(CPU, training=True):
        assert layer(x).dtype == torch.float32
