"""Study ``blocks`` (seed 003): one small MNIST network per detector block (VGG, Bottleneck,
CSP, SPPF, Transformer) and a plain reference CNN, then integrated-gradients heatmaps of the
best block network beside the reference. The heatmap case reads the records and weights the
training cases wrote, so it runs last and skips when they are absent.
"""
import pytest

from harness.case import check_passed
from harness.errors import BenchError
from studies import blocks

pytestmark = pytest.mark.blocks


@pytest.mark.parametrize("blocks_case", blocks.cases(), ids=lambda case: case.id)
def test_blocks(blocks_case, case_context, benchmark):
    record = blocks.run_case(blocks_case, case_context, benchmark)
    check_passed(record)


def test_blocks_heatmaps(case_context):
    try:
        blocks.best_block(case_context)
    except BenchError as exc:
        pytest.skip(str(exc))
    check_passed(blocks.run_heatmaps(case_context))
