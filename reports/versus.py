"""One rule for setting a write-up's number beside ours, shared by every study's report.

A number is judged ("agree" within MARGIN of our mean / "differs" / "tie (within noise)" when
their number lies inside our 95 % interval yet beyond MARGIN) only when our records ran the
authors' protocol (profile ``writeup``); otherwise the verdict is "not comparable (different
budget)", whatever the difference. Ours is the mean over seeds, with the 95 % CI once two or more seeds ran.
"""

from __future__ import annotations

import pandas as pd

from harness.judge import MARGIN  # within it of the write-up's number: reproduced
from reports import stats


def ours_text(values: pd.Series, fmt: str = ".4f") -> str:
    values = values.dropna()
    n = len(values)
    ci = stats.ci_halfwidth(values)
    return f"{values.mean():{fmt}}" + (f" ± {ci:{fmt}}" if n > 1 else "") + f" ({n} seed{'s' * (n > 1)})"


def verdict(theirs: float, values: pd.Series, *, comparable: bool, budget_words: str) -> str:
    values = values.dropna()
    if values.empty:
        return "not measured"
    if not comparable:
        return f"not comparable (different budget: {budget_words})"
    diff = values.mean() - theirs
    span = f"our seeds {values.min():.4f} to {values.max():.4f}" if len(values) > 1 else "one seed"
    if abs(diff) <= MARGIN:
        # A mean can land near their number while single seeds do not: then the seeds are the finding.
        if (values - theirs).abs().max() > MARGIN:
            return f"agree on the mean (within {MARGIN}); {span}"
        return f"agree (within {MARGIN})"
    ci = stats.ci_halfwidth(values)
    if len(values) > 1 and abs(diff) <= ci:
        # Their number inside our interval: the gap is not shown beyond our seeds' noise.
        return f"tie (within noise): {diff:+.4f} on the mean, their value inside our 95 % CI ({span})"
    return f"differs by {diff:+.4f} ({span})"


def row(label: dict, theirs: float, values: pd.Series, *, comparable: bool, budget_words: str) -> dict:
    """One line of a comparison table: the write-up's value, ours, the difference, the verdict."""
    values = values.dropna()
    if values.empty:
        return {**label, "write-up": theirs, "ours": "not run", "difference": None, "verdict": "not measured"}
    return {
        **label,
        "write-up": theirs,
        "ours": ours_text(values),
        "difference": f"{values.mean() - theirs:+.4f}",
        "verdict": verdict(theirs, values, comparable=comparable, budget_words=budget_words),
    }
