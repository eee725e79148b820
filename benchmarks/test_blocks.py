"""Study ``blocks`` (write-up 003): one small MNIST network per detector block (VGG, Bottleneck,
CSP, SPPF, Transformer) and a plain reference CNN, then integrated-gradients heatmaps of the
best block network beside the reference. The heatmap case reads the records and weights the
training cases wrote, so it runs last and skips when they are absent.
"""

import pytest

from harness.errors import BenchError
from harness.runner import check_passed, require_profile, run
from harness.training import training_job
from studies import blocks
from studies.blocks.plan import best_block, heatmaps_job, plan

pytestmark = pytest.mark.blocks


@pytest.mark.parametrize("blocks_case", blocks.cases(), ids=lambda case: case.id)
def test_blocks(blocks_case, case_context, benchmark):
    require_profile(blocks.PROFILES, case_context, blocks.NAME)
    check_passed(run(training_job(plan(blocks_case, case_context), case_context, benchmark), case_context))


def test_blocks_heatmaps(case_context):
    require_profile(blocks.PROFILES, case_context, blocks.NAME)
    try:
        best_block(case_context)
    except BenchError as exc:
        pytest.skip(str(exc))
    check_passed(run(heatmaps_job(case_context), case_context))
