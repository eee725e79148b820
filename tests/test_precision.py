"""``--precision``: what ``auto`` picks from the CPU's flags, what each choice runs, and that
the choice reaches the record."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from harness import precision as prec
from harness.precision import FP32, Precision, resolve_precision

CPU = torch.device("cpu")


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
    chosen = resolve_precision("auto", CPU, model="lenet5-new")
    assert (chosen.train, chosen.inference) == ("fp32", "bf16")
    assert chosen.label == "fp32 training, bf16 inference"
    assert resolve_precision("auto", CPU, model="resnet18").train == "bf16"


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
