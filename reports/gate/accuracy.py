"""Rule ``accuracy``: an asserted metric's mean dropped beyond the seed-to-seed noise.

The allowed drop is the baseline's seed range for the case (else the widest range in its
threshold group, else in its study, else the judge's ``MARGIN``); with two or more current
seeds a one-sided t-test must agree at ``ACC_ALPHA`` (Welch's against the baseline's seeds, or
a one-sample test against a one-seed baseline), as MLPerf's convergence check does.
Seed-gated cases are left to the ``seeds`` rule: one collapsed seed moves their mean by half.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from harness import judge
from reports.gate.settings import ACC_ALPHA, GateSettings
from reports.gate.verdict import Verdict
from reports.load import measured as is_measured


def asserted(frame: pd.DataFrame) -> list[str]:
    """The metrics a study's cases assert (the columns ``thresholds.<metric>``)."""
    return sorted(
        c.removeprefix("thresholds.") for c in frame.columns if c.startswith("thresholds.") and frame[c].notna().any()
    )


def seed_gated(frame: pd.DataFrame) -> set[str]:
    if "seed_gate.metric" not in frame:
        return set()
    return set(frame.loc[frame["seed_gate.metric"].notna(), "case_id"])


def _ranges(frame: pd.DataFrame, column: str) -> pd.Series:
    """max - min of ``column`` per case, for cases with two or more values."""
    return frame.groupby("case_id")[column].agg(lambda s: s.max() - s.min() if s.count() > 1 else np.nan).dropna()


def _tolerance(base: pd.DataFrame, case_id: str, ranges: pd.Series) -> tuple[float, str]:
    if case_id in ranges.index:
        return float(ranges[case_id]), "the case's seed range"
    if "params.threshold_group" in base:
        group = base.loc[base["case_id"] == case_id, "params.threshold_group"].dropna()
        if len(group):
            members = base.loc[base["params.threshold_group"] == group.iloc[0], "case_id"].unique()
            in_group = ranges[ranges.index.isin(members)]
            if len(in_group):
                return float(in_group.max()), f"seed range of group {group.iloc[0]}"
    if len(ranges):
        return float(ranges.max()), "widest seed range in the study"
    return judge.MARGIN, "default (no case has two seeds)"


def _drop_p(before: np.ndarray, after: np.ndarray) -> float | None:
    """One-sided p that ``after`` is lower; None when the current run has one seed."""
    if len(after) < 2:
        return None
    if len(before) >= 2:
        p = stats.ttest_ind(before, after, equal_var=False, alternative="greater").pvalue
    else:
        p = stats.ttest_1samp(after, before[0], alternative="less").pvalue
    # Identical seeds on both sides leave no variance: the drop is then certain, not untestable.
    return 0.0 if math.isnan(p) else float(p)


def verdicts(base: pd.DataFrame, cur: pd.DataFrame, study: str, settings: GateSettings) -> list[Verdict]:
    out = []
    for metric in asserted(base):
        out += _metric(base, cur, study, metric, settings.acc_tolerance)
    return out


def _metric(base, cur, study: str, metric: str, acc_tolerance: float | None) -> list[Verdict]:
    column = f"metrics.{metric}"
    if column not in base or column not in cur:
        return []
    b, c = base[is_measured(base)], cur[is_measured(cur)]
    ranges = _ranges(b, column)
    out = []
    for case_id in sorted((set(b["case_id"]) & set(c["case_id"])) - seed_gated(base) - seed_gated(cur)):
        before = b.loc[b["case_id"] == case_id, column].dropna().to_numpy(float)
        after = c.loc[c["case_id"] == case_id, column].dropna().to_numpy(float)
        if not len(before) or not len(after):
            continue
        if acc_tolerance is not None:
            tolerance, source = acc_tolerance, "--acc-tolerance"
        else:
            tolerance, source = _tolerance(b, case_id, ranges)
        drop = before.mean() - after.mean()
        p = _drop_p(before, after)
        worse = drop > tolerance and (p is None or p < ACC_ALPHA)
        why = f"tolerance: {source}; {len(before)} vs {len(after)} seed(s)"
        if drop > tolerance and not worse:
            why += f"; drop not significant (p {p:.3f} >= {ACC_ALPHA})"
        kind = "accuracy" if worse else "ok"
        out.append(
            Verdict(
                study,
                case_id,
                metric,
                kind,
                baseline=before.mean(),
                current=after.mean(),
                change=-drop,
                allowed=f"-{tolerance:.4f}",
                p_value=p,
                regression=worse,
                why=why,
            )
        )
    return out
