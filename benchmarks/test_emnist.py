"""Study ``emnist`` (seed 004): EMNIST Balanced data, LeNet-5 old/new, the ResNet-50 ladder and
the candidate models. Without the EMNIST files every case skips with the reason and how to
get them; ``--emnist-tiny`` (test-only) runs the pipeline on a small fixture instead.
"""
import pytest

from harness.case import check_passed
from studies import emnist

pytestmark = pytest.mark.emnist


def _profile(config: pytest.Config, ctx) -> str:
    return "tiny" if config.getoption("emnist_tiny") else ctx.profile


def test_emnist_data(case_context, request):
    check_passed(emnist.run_data_case(case_context, _profile(request.config, case_context)))


@pytest.mark.parametrize("emnist_case", emnist.cases(), ids=lambda case: case.id)
def test_emnist(emnist_case, case_context, benchmark, request):
    record = emnist.run_case(emnist_case, case_context, benchmark, profile_name=_profile(request.config, case_context))
    check_passed(record)
