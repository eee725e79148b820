"""The statistics the reports print, against values worked out by hand."""

import numpy as np
import pytest

from reports.stats import holm, mcnemar_exact


def test_holm_step_down_adjustment():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> running max 0.03, 0.06, 0.06
    assert holm(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])
    assert holm(np.array([0.5, 0.9])) == pytest.approx([1.0, 1.0]), "capped at 1"


def test_mcnemar_exact_is_a_two_sided_binomial_on_the_discordant_pairs():
    labels = np.zeros(20, int)
    a = labels.copy()
    b = labels.copy()
    b[:5] = 1  # five images only A gets right, none only B
    result = mcnemar_exact(labels, a, b)
    assert (result["only_a_right"], result["only_b_right"]) == (5, 0)
    assert result["p"] == pytest.approx(2 * 0.5**5) and not result["different"]
    assert mcnemar_exact(labels, a, a)["p"] == 1.0
