"""Is a difference real? Confidence intervals, rank tests and the accuracy/time Pareto front.

Only scipy does the statistics (Holm's correction is written out below); this module arranges records into the shape
their tests expect and words the outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from harness import judge

ALPHA = 0.05


def relative_spread(values: pd.Series) -> float:
    """(max - min) / median: how far repeated measurements of one thing lie apart."""
    return float((values.max() - values.min()) / values.median())


def seeds_reached(runs: pd.DataFrame) -> tuple[int, int, pd.Series]:
    """(seeds that reached the bar, seeds counted, the rule's row) over one case's records of
    seeds 0 .. of-1, measured against the newest record's rule; a diverged seed counts as not reached.
    The metric is read from the flattened record (``metrics.<name>``) or a report frame (``<name>``)."""
    rule = runs.sort_values("finished_at").iloc[-1]
    counted = runs[(runs["seed"] < rule["seed_gate.of"]) & runs["status"].isin(["passed", "failed", "diverged"])]
    metric = rule["seed_gate.metric"]
    column = f"metrics.{metric}" if f"metrics.{metric}" in counted else metric
    values = counted.get(column, pd.Series(np.nan, index=counted.index))
    reached = judge.reached(values, rule["seed_gate.bar"], counted["status"])
    return int(reached.sum()), len(counted), rule


def ci_halfwidth(values: pd.Series, confidence: float = 0.95) -> float:
    """Half-width of the Student-t confidence interval of the mean; NaN below two values."""
    values = values.dropna()
    if len(values) < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def with_ci(means: pd.DataFrame, halves: pd.DataFrame, fmt: str = ".4f") -> pd.DataFrame:
    """Cells as ``mean ± half`` where a CI exists, else the mean alone (one seed)."""

    def cell(m, h):
        if pd.isna(m):
            return None
        return f"{m:{fmt}} ± {h:{fmt}}" if pd.notna(h) else f"{m:{fmt}}"

    halves = halves.reindex(index=means.index, columns=means.columns)
    return pd.DataFrame(
        [[cell(m, h) for m, h in zip(means.loc[i], halves.loc[i], strict=True)] for i in means.index],
        index=means.index,
        columns=means.columns,
    )


def friedman(df: pd.DataFrame, cases: list[str], treatment: str, metric: str) -> dict | None:
    """Friedman's test over the cases (``cases`` columns; seeds averaged) in which every treatment
    was measured: do the treatments differ at all? Pairwise verdicts are the one comparison
    rule's (reports/comparison.py). None with fewer than 3 treatments or 2 cases."""
    table = df.pivot_table(index=cases, columns=treatment, values=metric, aggfunc="mean").dropna()
    if table.shape[1] < 3 or table.shape[0] < 2:
        return None
    result = stats.friedmanchisquare(*[table[c].to_numpy() for c in table.columns])
    return {
        "blocks": table.shape[0],
        "treatments": table.shape[1],
        "friedman_stat": float(result.statistic),
        "friedman_p": float(result.pvalue),
    }


def seeds_words(records: pd.DataFrame) -> str:
    """ "mean over N seeds", or "one seed" where no case ran more than once (figure titles)."""
    if not len(records):
        return "one seed"
    per_case = records.groupby("case_id")["seed"].nunique()
    fewest, most = int(per_case.min()), int(per_case.max())
    if most <= 1:
        return "one seed"
    return f"mean over {most} seeds" if fewest == most else f"mean over {fewest} to {most} seeds per case"


def mcnemar_exact(labels: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict:
    """McNemar's exact test on paired test predictions of two models."""
    right_a, right_b = pred_a == labels, pred_b == labels
    table = [
        [int((right_a & right_b).sum()), int((right_a & ~right_b).sum())],
        [int((~right_a & right_b).sum()), int((~right_a & ~right_b).sum())],
    ]
    only_a, only_b = table[0][1], table[1][0]
    # Exact McNemar: the discordant pairs under H0 are Binomial(n, 1/2), two-sided.
    p = float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
    return {"only_a_right": only_a, "only_b_right": only_b, "p": p, "different": bool(p < ALPHA)}


def pareto_front(df: pd.DataFrame, accuracy: str, cost: str) -> pd.Series:
    """True for rows that no other row beats on both (higher accuracy, lower cost)."""
    acc, time = df[accuracy].to_numpy(), df[cost].to_numpy()
    dominated = [
        bool(((acc >= a) & (time <= t) & ((acc > a) | (time < t))).any()) for a, t in zip(acc, time, strict=True)
    ]
    return pd.Series(~np.array(dominated, dtype=bool), index=df.index)
