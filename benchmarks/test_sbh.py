"""Study ``sbh``: seed 001's grid on digits (0, 1, 2) and seed 000's extensions.

One marker per experiment, all under ``sbh``: ``sbh_seed001``, ``sbh_combos`` (the five new
combos, plus (0, 1, 2) to compare against), ``sbh_size``, ``sbh_lr``, and ``sbh_custom`` for
combos given with ``--digits``. ``ci`` marks the representative subset CI runs.

Each case trains for the profile's budget, times inference over the whole test subset with
pytest-benchmark, writes its record, then asserts its group's accuracy threshold.
"""
import pytest

from harness.case import check_passed
from studies import sbh

pytestmark = pytest.mark.sbh


def _marks(case: sbh.SbhCase) -> list:
    marks = [getattr(pytest.mark, sbh.EXPERIMENTS[case.experiment][0])]
    if case.experiment == "seed001":
        marks.append(pytest.mark.sbh_combos)
    if case.id in sbh.CI_CASES:
        marks.append(pytest.mark.ci)
    return marks


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sbh_case" in metafunc.fixturenames:
        cases = sbh.all_cases(metafunc.config.sbh_extra_digits)
        metafunc.parametrize("sbh_case", [pytest.param(case, marks=_marks(case), id=case.id) for case in cases])


def test_sbh(sbh_case, case_context, benchmark):
    record = sbh.run_case(sbh_case, case_context, benchmark)
    check_passed(record)
