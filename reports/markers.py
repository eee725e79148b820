"""Markers that every table of a report puts beside a case that needs a second look, with the
footnote that explains them: failed, rerun, threshold changed since the run, only the
untrained-model floor asserted, judged over seeds (unstable groups), and outliers of their
threshold group."""

from __future__ import annotations

import pandas as pd

# marker -> what it means (the footnote under every table that uses it)
MEANING = {
    "✗": "did not pass: below its threshold, diverged or errored (last section lists why)",
    "↻": "rerun: an older record of the same case and seed was replaced by this one",
    "†": "threshold changed since this run: the record asserted a different minimum than the study does now",
    "°": "uncalibrated group: only the untrained-model floor is asserted",
    "≈": "seed-gated (unstable group): no minimum per seed; the case fails when too few of its seeds reach the "
    "group's bar (rule beside the budget)",
    "!": "outlier: below every other record of its threshold group by more than the group's seed spread",
}
# With one seed the group's seed spread is unknown; this stands in for it.
ONE_SEED_SPREAD = 0.01


def _outliers(df: pd.DataFrame, metric: str, group: str) -> pd.Series:
    flags = pd.Series(False, index=df.index)
    ok = df[df["status"].isin(["passed", "failed"]) & df[metric].notna()]
    for _, rows in ok.groupby(group):
        if len(rows) < 3:
            continue
        per_case = rows.groupby("case_id")[metric]
        spread = (per_case.max() - per_case.min()).max() if per_case.count().max() > 1 else ONE_SEED_SPREAD
        for index, value in rows[metric].items():
            others = rows[metric].drop(index)
            flags[index] = value < others.min() - max(spread, ONE_SEED_SPREAD)
    return flags


def case_marks(
    df: pd.DataFrame, metric: str, *, current_threshold=None, group: str = "params.threshold_group"
) -> pd.Series:
    """A marker string per record (row of ``df``). ``current_threshold(row)`` gives the minimum the
    study asserts today for that record's profile and group (None: not checked)."""
    outlier = _outliers(df, metric, group) if group in df else pd.Series(False, index=df.index)
    marks = []
    for index, row in df.iterrows():
        mark = ""
        if row.get("status") != "passed":
            mark += "✗"
        if bool(row.get("rerun", False)):
            mark += "↻"
        asserted = row.get(f"thresholds.{metric}")
        gated = pd.notna(row.get("seed_gate.metric", None))
        if current_threshold is not None and pd.notna(asserted):
            now = current_threshold(row)
            # a record that asserted a minimum in a group that is seed-gated now: its verdict changed too
            if (now is not None and abs(now - asserted) > 1e-9) or gated:
                mark += "†"
        if row.get("params.threshold_calibrated") is False:
            mark += "°"
        if gated:
            mark += "≈"
        if outlier.get(index, False):
            mark += "!"
        marks.append(mark)
    return pd.Series(marks, index=df.index, dtype=object)


def footnote(marks: pd.Series) -> str:
    """The legend of the markers that occur, one line; empty when none does."""
    used = [m for m in MEANING if marks.str.contains(m, regex=False).any()]
    return " · ".join(f"{m} {MEANING[m]}" for m in used)
