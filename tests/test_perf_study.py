"""The perf study on a few steps: every pipeline trains, the record holds rates that agree with
its ratios, too many steps for one epoch is a one-line error, and epoch cases carry no bar
off the GPUs their target was set for."""

from dataclasses import replace

import pytest
import torch

from harness.runner import check_passed, run
from studies import perf
from studies.perf import plan as perf_plan

TINY = perf.PerfSettings(steps={"lenet5-new": 2}, warmup_steps=1, repeats=1, thresholds={})
LENET = perf.CASES[0]


@pytest.fixture
def perf_context(run_context, mnist_root, tmp_path):
    return replace(run_context, results_dir=tmp_path)


def test_three_pipelines_recorded_with_consistent_ratios(perf_context):
    record = run(perf_plan.perf_job(LENET, perf_context, settings=TINY), perf_context)
    check_passed(record)
    m = record.metrics
    assert all(m[f"images_per_s_{name}"] > 0 for name in perf_plan.PIPELINES)
    assert m["harness_over_dataloader"] == pytest.approx(m["images_per_s_harness"] / m["images_per_s_dataloader"])
    assert m["harness_over_minimal"] == pytest.approx(m["images_per_s_harness"] / m["images_per_s_minimal"])
    assert 0 < m["share_of_matmul_rate"] == pytest.approx(m["train_flops_per_s"] / m["matmul_flops_per_s"])
    assert (perf_context.results_dir / "perf" / "lenet5-new-seed0.json").is_file()


def test_steps_beyond_one_epoch_is_a_clear_error(perf_context):
    too_many = perf.PerfSettings(steps={"lenet5-new": 60_000 // perf.BATCH}, warmup_steps=1, repeats=1)
    record = run(perf_plan.perf_job(LENET, perf_context, settings=too_many), perf_context)
    assert record.status == "error"
    assert "lower the profile's steps to at most 233" in record.error and "\n" not in record.error


def test_profiles_fit_in_one_epoch(run_context, mnist_root):
    for profile in perf.PROFILES.values():
        for case in perf.CASES:
            n_images = len(perf_plan._images(run_context, case)[1])
            perf_plan._check_one_epoch(case, n_images, profile.steps[case.id], profile.warmup_steps)


def test_epoch_case_off_target_devices_has_no_bar(perf_context, monkeypatch):
    """On the CPU (whatever this host also has) the epoch case records its time without a bar."""
    monkeypatch.setattr(perf_plan, "EPOCH_IMAGES", 2 * perf.BATCH)
    monkeypatch.setattr(perf_plan, "EPOCH_REPEATS", 1)
    cpu = replace(perf_context, device=torch.device("cpu"))
    record = run(perf_plan.epoch_job(perf.EPOCH_CASES[0], cpu), cpu)
    check_passed(record)
    assert record.thresholds == {}
    m = record.metrics
    assert m["speedup_over_writeup"] == pytest.approx(perf.EPOCH_CASES[0].writeup_s_per_epoch / m["s_per_epoch"])
    assert m["s_per_epoch"] <= m["s_per_epoch_median"]


@pytest.mark.parametrize(
    ("name", "bar"), [("NVIDIA H100 80GB HBM3", True), ("NVIDIA H200", True), ("NVIDIA A10G", False)]
)
def test_epoch_bar_only_on_the_gpus_it_was_set_for(monkeypatch, name, bar):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert perf_plan.epoch_thresholds(torch.device("cuda")) == (perf.EPOCH_TARGET if bar else {})
    assert perf_plan.epoch_thresholds(torch.device("cpu")) == {}
