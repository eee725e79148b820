"""``python -m reports calibrate RESULTS... --study S --metric M``: the spread of one metric
over seeded runs, per case, as the Markdown table that docs/thresholds.md quotes.

Thresholds are set from such tables (AlgoPerf-style: several seeded runs of each case, not
one lucky run); rerun this after changing a budget and update the profile and the doc.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from harness import judge
from reports.load import collect, precision
from reports.render import md_table


def one_precision(df: pd.DataFrame, paths: list[Path], by: str) -> None:
    """A bar holds for the precision it was measured in: refuse to pool fp32 and bf16 runs of
    one group (``auto`` may still have run different models in different precisions)."""
    labels = precision(df)
    for name, group in labels.groupby(df[by]):
        counts = group.value_counts()
        if len(counts) > 1:
            mixed = ", ".join(f"{label}: {n}" for label, n in counts.items())
            raise SystemExit(
                f"error: {name} in {', '.join(map(str, paths))} mixes precisions ({mixed}); "
                "calibrate each from its own directory"
            )


def spread(paths: list[Path], study: str, metric: str):
    df = collect(paths).study(study)
    column = f"metrics.{metric}"
    if df.empty or column not in df:
        raise SystemExit(f"error: no {study} records with metrics.{metric} in {', '.join(map(str, paths))}")
    df = df[df[column].notna()]
    one_precision(df, paths, "case_id")
    table = df.groupby("case_id")[column].agg(["count", "min", "mean", "max"]).rename(columns={"count": "seeds"})
    table.loc["(all cases)"] = [len(df), df[column].min(), df[column].mean(), df[column].max()]
    return table


def group_thresholds(paths: list[Path], study: str, metric: str, seeds: int = 1) -> pd.DataFrame:
    """Per threshold group: lowest run, widest seed range, and the threshold the rule gives.

    Rule (docs/thresholds.md): floor to 0.01 of (lowest - max(0.01, widest range)). A group
    none of whose cases ran with two seeds borrows the widest range measured in its
    experiment for the same backbone (a sweep's other values); failing that, the whole range
    between the group's structures stands in for the seed spread (an unstable setting, such
    as a high learning rate, spreads both), with a margin of at least 0.02 because the seed
    spread is unmeasured (a provisional value), and the table says which was used.

    A group with a run below ``judge.FLOOR`` is unstable: the rule then runs over its
    converged runs only and gives the bar of a seed gate (docs/thresholds.md, "Unstable
    groups"); with no converged run the bar is ``judge.FLOOR`` itself.

    A group a case of which has fewer than ``seeds`` seeds gets no threshold: the calibration
    of that group is still running. Records without ``params.threshold_group`` (the blocks
    study) are grouped by case.
    """
    df = collect(paths).study(study)
    column, group = f"metrics.{metric}", "params.threshold_group"
    if not df.empty and group not in df:
        df[group] = df["case_id"]  # a study without threshold groups (blocks): each case is its own
    if df.empty or column not in df or group not in df:
        raise SystemExit(f"error: no {study} records with {group} and metrics.{metric} in {', '.join(map(str, paths))}")
    df = df[df[column].notna()]
    one_precision(df, paths, group)
    # Seed ranges of converged runs only: a collapsed seed's distance from a trained one is not noise
    # that a minimum could absorb, and it must not widen a neighbouring group's borrowed margin.
    converged = df[df[column] >= judge.FLOOR]
    ranges = converged.groupby([group, "case_id"])[column].agg(
        lambda s: s.max() - s.min() if s.count() > 1 else math.nan
    )
    rows = []
    for name, all_runs in df.groupby(group):
        fewest = int(all_runs.groupby("case_id")["seed"].nunique().min())
        if fewest < seeds:
            waiting = f"waiting: fewest seeds {fewest} of {seeds}"
            rows.append(_row(name, all_runs, fewest, 0, math.nan, math.nan, waiting, None, rule="—"))
            continue
        collapsed = int((all_runs[column] < judge.FLOOR).sum())
        runs = all_runs[all_runs[column] >= judge.FLOOR] if collapsed else all_runs
        if runs.empty:
            rows.append(_row(name, all_runs, fewest, collapsed, math.nan, math.nan, "no converged run", judge.FLOOR))
            continue
        widest = ranges.loc[name].max()
        source = "own seeds"
        if math.isnan(widest):
            experiment, backbone = name.split("/")[0], name.split("/")[-1]
            kin = ranges[
                [
                    g.startswith(experiment + "/") and g.endswith("/" + backbone)
                    for g in ranges.index.get_level_values(0)
                ]
            ]
            if kin.notna().any():
                widest, source = kin.max(), "borrowed from the experiment"
            else:
                widest, source = (
                    runs[column].max() - runs[column].min(),
                    "range between structures (one seed; provisional)",
                )
        floor_margin = judge.ONE_SEED_MARGIN if source.startswith("range between") else judge.MARGIN
        margin = max(floor_margin, 0 if math.isnan(widest) else widest)
        lowest = runs[column].min()
        bar = judge.bar(lowest, margin)
        if bar < judge.FLOOR:
            source += f"; the rule gave {bar:.2f}, below the floor"
        rows.append(_row(name, all_runs, fewest, collapsed, lowest, widest, source, max(bar, judge.FLOOR)))
    return pd.DataFrame(rows).set_index("group")


def _row(name, runs, fewest, collapsed, lowest, widest, source, threshold, rule=None) -> dict:
    if rule is None:
        rule = f"seed gate (bar; {collapsed} run(s) below {judge.FLOOR})" if collapsed else "minimum"
    return {
        "group": name,
        "runs": len(runs),
        "seeds": runs["seed"].nunique(),
        # A group is calibrated from three seeds only once every one of its cases has them.
        "fewest seeds of a case": fewest,
        "collapsed": collapsed,
        "lowest": lowest,
        "widest range": widest,
        "range from": source,
        "rule": rule,
        "threshold": threshold,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--study", required=True)
    parser.add_argument("--metric", required=True)
    parser.add_argument(
        "--groups", action="store_true", help="per threshold group, with the threshold the documented rule gives"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="with --groups: leave out the threshold of a group a case of which has fewer seeds than this",
    )


def run(args: argparse.Namespace) -> int:
    print(
        md_table(
            group_thresholds(args.results, args.study, args.metric, args.seeds)
            if args.groups
            else spread(args.results, args.study, args.metric)
        )
    )
    return 0
