"""Study ``sbh`` (seed 001): 5 structures x 3 backbones on digits (0, 1, 2), plus any
``--digits`` combination given on the command line.

Each case trains for the profile's budget, times inference over the whole test subset with
pytest-benchmark, writes its record, then asserts the profile's accuracy threshold.
Seed 000's extra combos and sweeps are not here yet.
"""
import pytest

from harness.case import check_passed
from studies import sbh

pytestmark = pytest.mark.sbh


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sbh_case" in metafunc.fixturenames:
        combos = [sbh.SEED001_DIGITS, *metafunc.config.sbh_extra_digits]
        cases = [case for digits in dict.fromkeys(combos) for case in sbh.grid(digits)]
        metafunc.parametrize("sbh_case", cases, ids=[case.id for case in cases])


def test_sbh(sbh_case, run_context, benchmark):
    record = sbh.run_case(sbh_case, run_context, benchmark)
    check_passed(record)
