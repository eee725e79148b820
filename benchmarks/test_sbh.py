"""Study ``sbh``: write-up 001's grid on digits (0, 1, 2) and write-up 000's extensions.

Cases, experiments (one marker each, all under ``sbh``) and the ``ci`` subset are declared in
``studies/sbh/__init__.py``; each case trains for the profile's budget, times inference over
the whole test subset with pytest-benchmark, writes its record, then asserts its group's
accuracy threshold.
"""

import pytest

from harness.runner import check_passed, require_profile, run
from harness.training import training_job
from studies import sbh
from studies.sbh.plan import plan

pytestmark = pytest.mark.sbh


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sbh_case" in metafunc.fixturenames:
        cases = sbh.all_cases(metafunc.config.sbh_extra_digits)
        params = [
            pytest.param(case, marks=[getattr(pytest.mark, m) for m in sbh.case_markers(case)], id=case.id)
            for case in cases
        ]
        metafunc.parametrize("sbh_case", params)


def test_sbh(sbh_case, case_context, benchmark):
    require_profile(sbh.PROFILES, case_context, sbh.NAME)
    check_passed(run(training_job(plan(sbh_case, case_context), case_context, benchmark), case_context))
