"""The perf study on a few steps: every pipeline trains, the record holds rates that agree with
its ratios, too many steps for one epoch is a one-line error, and epoch cases carry no bar
off the GPUs their target was set for."""
from dataclasses import replace

import pytest

from harness.case import check_passed
from studies import perf

TINY = perf.Profile(steps={"lenet5-new": 2}, warmup_steps=1, repeats=1, thresholds={})
LENET = perf.CASES[0]


@pytest.fixture
def perf_context(run_context, mnist_root, tmp_path):
    return replace(run_context, results_dir=tmp_path)


def test_three_pipelines_recorded_with_consistent_ratios(perf_context):
    record = perf.run_case(LENET, perf_context, profile=TINY)
    check_passed(record)
    m = record.metrics
    assert all(m[f"images_per_s_{name}"] > 0 for name in perf.PIPELINES)
    assert m["harness_over_dataloader"] == pytest.approx(m["images_per_s_harness"] / m["images_per_s_dataloader"])
    assert m["harness_over_minimal"] == pytest.approx(m["images_per_s_harness"] / m["images_per_s_minimal"])
    assert 0 < m["share_of_matmul_rate"] == pytest.approx(m["train_flops_per_s"] / m["matmul_flops_per_s"])
    assert (perf_context.results_dir / "perf" / "lenet5-new-seed0.json").is_file()


def test_steps_beyond_one_epoch_is_a_clear_error(perf_context):
    too_many = perf.Profile(steps={"lenet5-new": 60_000 // perf.BATCH}, warmup_steps=1, repeats=1)
    record = perf.run_case(LENET, perf_context, profile=too_many)
    assert record.status == "error"
    assert "lower the profile's steps to at most 233" in record.error and "\n" not in record.error


def test_profiles_fit_in_one_epoch(run_context, mnist_root):
    for profile in perf.PROFILES.values():
        for case in perf.CASES:
            n_images = len(perf._images(run_context, case)[1])
            perf._check_one_epoch(case, n_images, profile.steps[case.id], profile.warmup_steps)


def test_epoch_case_off_target_gpus_has_no_bar(perf_context, monkeypatch):
    monkeypatch.setattr(perf, "EPOCH_IMAGES", 2 * perf.BATCH)
    monkeypatch.setattr(perf, "EPOCH_REPEATS", 1)
    record = perf.run_epoch_case(perf.EPOCH_CASES[0], perf_context)
    check_passed(record)
    assert record.thresholds == {}
    m = record.metrics
    assert m["speedup_over_seed"] == pytest.approx(perf.EPOCH_CASES[0].seed_s_per_epoch / m["s_per_epoch"])
    assert m["s_per_epoch"] <= m["s_per_epoch_median"]
