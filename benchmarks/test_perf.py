"""Study ``perf``: training images/s of the harness, of the usual DataLoader pipeline and of a
minimal loop, in one run, for LeNet-5 and structure (2) on ResNet-18. Asserts the ratios.

These cases measure the machine rather than a model, and other work running beside them
skews the ratios, so they run only when asked for alone: ``pytest benchmarks -m perf``.
"""
import pytest

from harness.case import check_passed
from studies import perf

pytestmark = pytest.mark.perf


@pytest.mark.parametrize("perf_case", perf.CASES, ids=lambda case: case.id)
def test_perf(perf_case, run_context, request):
    if "perf" not in (request.config.option.markexpr or ""):
        pytest.skip("perf measures the machine; run it alone with `pytest benchmarks -m perf`")
    record = perf.run_case(perf_case, run_context)
    m = record.metrics
    if m:
        print(
            f"\n{perf_case.id}: harness {m['images_per_s_harness']:.0f} img/s, DataLoader {m['images_per_s_dataloader']:.0f} img/s, "
            f"minimal loop {m['images_per_s_minimal']:.0f} img/s; harness/DataLoader {m['harness_over_dataloader']:.2f}x, "
            f"harness/minimal {m['harness_over_minimal']:.3f}x; step at {m['train_flops_per_s'] / 1e9:.1f} GFLOP/s = "
            f"{m['share_of_matmul_rate']:.1%} of the measured matmul rate"
        )
    check_passed(record)
