"""The one comparison rule: beats / tie (within noise) / one seed, untested, for accuracies and times."""

import numpy as np
import pandas as pd
import pytest

from reports import comparison


def frame(values: dict) -> pd.DataFrame:
    """{(item, case): [seed values]} -> rows of item, case, seed, acc."""
    rows = [
        {"item": item, "case": case, "seed": seed, "acc": v}
        for (item, case), seeds in values.items()
        for seed, v in enumerate(seeds)
    ]
    return pd.DataFrame(rows)


def test_one_case_compares_seeds_and_one_seed_is_untested():
    tight = frame({("a", "c"): [0.990, 0.991, 0.992], ("b", "c"): [0.980, 0.981, 0.982]})
    c = comparison.accuracy(tight, "item", "b", "a", "acc", ["case"])
    assert c.leader == "a" and c.outcome == comparison.BEATS and c.unit == "seeds of one case" and c.units == 3
    wide = frame({("a", "c"): [0.99, 0.95, 0.97], ("b", "c"): [0.98, 0.96, 0.965]})
    assert comparison.accuracy(wide, "item", "a", "b", "acc", ["case"]).outcome == comparison.TIE
    single = frame({("a", "c"): [0.99], ("b", "c"): [0.90]})
    assert comparison.accuracy(single, "item", "a", "b", "acc", ["case"]).outcome == comparison.UNTESTED


def test_cases_are_the_units_with_seeds_averaged():
    """Three seeds in each of three cases: three units, not nine; a difference that flips sign
    between cases is a tie however many seeds ran."""
    consistent = frame(
        {
            (i, c): [base + d + 0.001 * s for s in range(3)]
            for c, base in (("x", 0.9), ("y", 0.95), ("z", 0.97))
            for i, d in (("a", 0.01), ("b", 0.0))
        }
    )
    c = comparison.accuracy(consistent, "item", "a", "b", "acc", ["case"])
    assert c.units == 3 and c.unit == "cases (seeds averaged)" and c.outcome == comparison.BEATS
    assert c.estimate == pytest.approx(0.01)
    flipping = frame(
        {
            ("a", "x"): [0.99] * 3,
            ("b", "x"): [0.95] * 3,
            ("a", "y"): [0.95] * 3,
            ("b", "y"): [0.99] * 3,
            ("a", "z"): [0.97] * 3,
            ("b", "z"): [0.96] * 3,
        }
    )
    assert comparison.accuracy(flipping, "item", "a", "b", "acc", ["case"]).outcome == comparison.TIE


def test_one_weak_item_does_not_make_every_other_pair_a_tie():
    """The noise is the compared pair's own, not the spread of every item on the page."""
    values = {
        ("a", "c"): [0.990, 0.991, 0.992],
        ("b", "c"): [0.980, 0.981, 0.982],
        ("collapsed", "c"): [0.33, 0.99, 0.6],
    }
    assert comparison.accuracy(frame(values), "item", "a", "b", "acc", ["case"]).outcome == comparison.BEATS


def test_median_interval_uses_order_statistics():
    mid, low, high = comparison.median_interval(list(range(1, 26)))
    assert (mid, low, high) == (13, 8, 18), "n = 25: ranks 8 and 18 (binomial, 95 %)"
    assert np.isnan(comparison.median_interval([1, 2, 3])[1]), "too few rounds for an interval"


def test_times_are_compared_round_by_round():
    """A host that drifts 30 % during the run moves both networks alike: the per-round ratio stays."""
    drift = np.linspace(1.0, 1.3, 25)
    fast, slow = 0.1 * drift, 0.2 * drift * (1 + 0.01 * np.sin(np.arange(25)))
    c = comparison.times(slow, fast, "slow", "fast", metric="inference", source="speed/x")
    assert c.leader == "fast" and c.outcome == comparison.BEATS and c.estimate == pytest.approx(2.0, rel=0.02)
    same = comparison.times(fast, fast * (1 + 0.02 * np.sin(np.arange(25))), "a", "b", metric="i", source="s")
    assert same.outcome == comparison.TIE and "side by side, `s`" in same.words(), "every time verdict cites its record"


def test_ranking_names_a_leader_only_when_it_beats_every_other():
    values = {("a", "c"): [0.990, 0.991, 0.992], ("b", "c"): [0.9895, 0.991, 0.9925], ("d", "c"): [0.90, 0.91, 0.92]}
    df = frame(values)
    versus = lambda x, y: comparison.accuracy(df, "item", x, y, "acc", ["case"])  # noqa: E731
    tied = comparison.ranking(["a", "b", "d"], versus, what="t", best_word="best")
    assert not tied["named"] and tied["tied"] == ["a", "b"] and tied["text"].startswith("no single best")
    clear = comparison.ranking(["a", "d"], versus, what="t", best_word="best")
    assert clear["named"] and clear["text"].startswith("best: **a**")
