"""The statistics the reports print, against values worked out by hand."""

import numpy as np
import pytest

from reports.stats import mcnemar_exact


def test_mcnemar_exact_is_a_two_sided_binomial_on_the_discordant_pairs():
    labels = np.zeros(20, int)
    a = labels.copy()
    b = labels.copy()
    b[:5] = 1  # five images only A gets right, none only B
    result = mcnemar_exact(labels, a, b)
    assert (result["only_a_right"], result["only_b_right"]) == (5, 0)
    assert result["p"] == pytest.approx(2 * 0.5**5) and not result["different"]
    assert mcnemar_exact(labels, a, a)["p"] == 1.0
