"""Study ``perf``: training images/s of the harness, of the usual DataLoader pipeline and of a
minimal loop, in one run, for LeNet-5 and structure (2) on ResNet-18, with the ratios asserted;
on CUDA also whole epochs at EMNIST's size against write-up 004's seconds per epoch.

These cases measure the machine rather than a model, and other work running beside them
skews the ratios, so they run only when asked for alone: ``pytest benchmarks -m perf``
(the study is declared ``run_alone``; conftest.py skips it otherwise).
"""

import pytest

from harness.runner import check_passed, require_profile, run
from studies import perf
from studies.perf.plan import epoch_job, perf_job

pytestmark = pytest.mark.perf


@pytest.mark.parametrize("perf_case", perf.CASES, ids=lambda case: case.id)
def test_perf(perf_case, run_context):
    require_profile(perf.PROFILES, run_context, perf.NAME)
    record = run(perf_job(perf_case, run_context), run_context)
    m = record.metrics
    if m:
        print(
            f"\n{perf_case.id}: harness {m['images_per_s_harness']:.0f} img/s, DataLoader "
            f"{m['images_per_s_dataloader']:.0f} img/s, "
            f"minimal loop {m['images_per_s_minimal']:.0f} img/s; harness/DataLoader "
            f"{m['harness_over_dataloader']:.2f}x, "
            f"harness/minimal {m['harness_over_minimal']:.3f}x; step at {m['train_flops_per_s'] / 1e9:.1f} GFLOP/s = "
            f"{m['share_of_matmul_rate']:.1%} of the measured matmul rate"
        )
    check_passed(record)


@pytest.mark.parametrize("epoch_case", perf.EPOCH_CASES, ids=lambda case: case.id)
def test_perf_epoch(epoch_case, run_context):
    if run_context.device.type != "cuda":
        pytest.skip(
            f"{epoch_case.id}: a GPU target (write-up 004's {epoch_case.writeup_s_per_epoch:g} s/epoch / 10); "
            f"this device is {run_context.device}"
        )
    record = run(epoch_job(epoch_case, run_context), run_context)
    m = record.metrics
    if m:
        bar = "asserted" if record.thresholds else f"not asserted: the target is for {' / '.join(perf.TARGET_GPUS)}"
        print(
            f"\n{epoch_case.id}: {m['s_per_epoch']:.2f} s/epoch (median {m['s_per_epoch_median']:.2f}), "
            f"{m['images_per_s']:.0f} img/s; "
            f"{m['speedup_over_writeup']:.1f}x under write-up 004's {m['writeup_s_per_epoch']:g} s/epoch ({bar})"
        )
    check_passed(record)
