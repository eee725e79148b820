"""Study ``speed``: each comparison group's networks timed round-robin in one process; the
reports' speed verdicts read these records (``pytest benchmarks -m speed``)."""

import statistics

import pytest

from harness.runner import check_passed, require_profile, run
from studies import speed
from studies.speed.plan import speed_job

pytestmark = pytest.mark.speed


@pytest.mark.parametrize("speed_case", speed.CASES, ids=lambda case: case.id)
def test_speed(speed_case, run_context):
    require_profile(speed.PROFILES, run_context, speed.NAME)
    record = run(speed_job(speed_case, run_context), run_context)
    if record.side_by_side:
        medians = {
            f"{name} {phase}": statistics.median(rounds)
            for name, network in record.side_by_side["networks"].items()
            for phase, rounds in network["rounds_s"].items()
        }
        fastest, slowest = min(medians, key=medians.get), max(medians, key=medians.get)
        print(
            f"\n{speed_case.id}: {len(medians)} series x {record.side_by_side['rounds']} rounds; medians "
            f"{medians[fastest] * 1e3:.1f} ms ({fastest}) to {medians[slowest] * 1e3:.1f} ms ({slowest})"
        )
    check_passed(record)
