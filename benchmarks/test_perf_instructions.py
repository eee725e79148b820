"""Study ``perf_instructions``: instructions of one training step and one inference batch under
callgrind (``pytest benchmarks -m perf_instructions``; skips with the reason without valgrind)."""

import pytest

from harness.runner import check_passed, require_profile, run
from studies import perf_instructions
from studies.perf_instructions.plan import instructions_job

pytestmark = pytest.mark.perf_instructions


@pytest.mark.parametrize("case", perf_instructions.CASES, ids=lambda case: case.id)
def test_perf_instructions(case, run_context, request):
    require_profile(perf_instructions.PROFILES, run_context, perf_instructions.NAME)
    # Every selected network is counted when the first case asks, in processes side by side.
    selected = {
        item.callspec.params["case"].group
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_perf_instructions"
    }
    record = run(instructions_job(case, run_context, selected=selected), run_context)
    m = record.metrics
    if m:
        top = record.instructions["functions"][0]
        print(
            f"\n{case.id}: {m['instructions'] / 1e6:.1f} M instructions "
            f"({m['instructions_per_image'] / 1e6:.2f} M per image); "
            f"natively {m['step_s'] * 1e3:.1f} ms; largest: {top[0][:80]} ({top[1] / m['instructions']:.0%})"
        )
    check_passed(record)
