"""Study ``emnist`` (write-up 004): EMNIST Balanced data, LeNet-5 old/new, the ResNet-50 ladder and
the candidate models. Without the EMNIST files every case skips with the reason and how to
get them; ``--emnist-tiny`` (test-only) runs the pipeline on a small fixture instead.
"""

import pytest

from harness.runner import check_passed, require_profile, run
from harness.training import training_job
from studies import emnist
from studies.emnist.plan import data_job, plan

pytestmark = pytest.mark.emnist


def _settings_name(config: pytest.Config, ctx) -> str:
    if config.getoption("emnist_tiny"):
        return "tiny"
    require_profile(emnist.PROFILES, ctx, emnist.NAME)
    return ctx.profile


def test_emnist_data(case_context, request):
    check_passed(run(data_job(case_context, _settings_name(request.config, case_context)), case_context))


@pytest.mark.parametrize("emnist_case", emnist.cases(), ids=lambda case: case.id)
def test_emnist(emnist_case, case_context, benchmark, request):
    settings = _settings_name(request.config, case_context)
    check_passed(run(training_job(plan(emnist_case, case_context, settings), case_context, benchmark), case_context))
