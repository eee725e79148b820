"""``python -m reports calibrate RESULTS... --study S --metric M``: the spread of one metric
over seeded runs, per case (``--groups``: per threshold group, with the bar the rule gives),
as the Markdown tables that docs/thresholds.md quotes.

``python -m reports calibrate --write STUDY...`` writes each study's ``thresholds.json`` (the
one source its profiles read, ``studies/thresholds.py``) from the records and write-up results
its ``Study.calibrations`` name; ``--check`` compares instead of writing and exits 1 when a
file differs. Thresholds are set from several seeded runs of each case, not one lucky run
(as AlgoPerf does); rerun ``--write`` after changing a budget or adding records.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

from harness import judge
from harness.fileio import atomic_write_bytes
from reports.load import collect, precision
from reports.render import md_table
from studies import STUDIES, thresholds
from studies.registry import Calibration

ROOT = Path(__file__).resolve().parents[1]
RULE = (
    "per group: floor to 0.01 of (lowest run - max(0.01, widest seed range)), never below the floor 0.5; "
    "a group with a run below the floor, or whose authors' runs collapsed, is seed-gated at that bar "
    "(2 of seeds 0-2 must reach it); write-up bars: the authors' lowest run minus 0.01 (docs/thresholds.md)"
)


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
    if not df.empty:  # a study without threshold groups (blocks): each case is its own
        df[group] = df[group].fillna(df["case_id"]) if group in df else df["case_id"]
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


def _number(value) -> float | None:
    return None if pd.isna(value) else round(float(value), 6)


def _from_records(study: str, calibration: Calibration, root: Path) -> dict:
    tables = {
        folder: group_thresholds([root / folder], study, calibration.metric, calibration.seeds)
        for folder in calibration.records
    }
    unstable = calibration.unstable() if calibration.unstable else set()
    minimums, gates, evidence = {}, {}, {}
    for group in sorted(set().union(*(table.index for table in tables.values()))):
        rows = [
            (f, t.loc[group]) for f, t in tables.items() if group in t.index and pd.notna(t.loc[group, "threshold"])
        ]
        if not rows:
            continue  # a case still lacks seeds: the group keeps the floor until it has them
        bar = min(float(row["threshold"]) for _, row in rows)
        if group in unstable or any(row["rule"].startswith("seed gate") for _, row in rows):
            gates[group] = {"metric": calibration.metric, "bar": bar}
        else:
            minimums[group] = {calibration.metric: bar}
        evidence[group] = [
            {
                "records": folder,
                "runs": int(row["runs"]),
                "collapsed": int(row["collapsed"]),
                "lowest": _number(row["lowest"]),
                "widest range": _number(row["widest range"]),
                "range from": row["range from"],
                "bar": float(row["threshold"]),
            }
            for folder, row in rows
        ]
    source = f"records: {', '.join(calibration.records)} ({calibration.seeds} seeds per case; the lowest bar over them)"
    return {"source": source, "minimums": minimums, "seed_gates": gates, "evidence": evidence}


def _from_writeup(calibration: Calibration) -> dict:
    minimums, gates = calibration.writeup()
    return {
        "source": "the write-ups' own results (studies/writeups/): the authors' lowest run per group minus 0.01",
        "minimums": minimums,
        "seed_gates": {group: {"metric": gate.metric, "bar": gate.bar} for group, gate in gates.items()},
    }


def study_thresholds(study: str, root: Path = ROOT) -> dict:
    """What ``studies/<study>/thresholds.json`` must hold, computed from scratch."""
    profiles = {
        c.profile: _from_writeup(c) if c.writeup else _from_records(study, c, root) for c in STUDIES[study].calibrations
    }
    return {
        "study": study,
        "written_by": f"python -m reports calibrate --write {study}",
        "rule": RULE,
        "profiles": profiles,
    }


def as_json(content: dict) -> str:
    return json.dumps(content, indent=1, ensure_ascii=False) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="*", type=Path)
    parser.add_argument("--study")
    parser.add_argument("--metric")
    parser.add_argument(
        "--groups", action="store_true", help="per threshold group, with the threshold the documented rule gives"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="with --groups: leave out the threshold of a group a case of which has fewer seeds than this",
    )
    parser.add_argument(
        "--write", nargs="+", metavar="STUDY", help="write these studies' thresholds.json from their calibrations"
    )
    parser.add_argument("--check", action="store_true", help="with --write: compare with the files, write nothing")


def run(args: argparse.Namespace) -> int:
    if args.write:
        return _write(args.write, check=args.check)
    if not args.results or not args.study or not args.metric:
        print("error: give RESULTS... --study S --metric M, or --write STUDY...", file=sys.stderr)
        return 2
    print(
        md_table(
            group_thresholds(args.results, args.study, args.metric, args.seeds)
            if args.groups
            else spread(args.results, args.study, args.metric)
        )
    )
    return 0


def _write(studies: list[str], *, check: bool) -> int:
    calibrated = [name for name, study in STUDIES.items() if study.calibrations]
    unknown = [name for name in studies if name not in calibrated]
    if unknown:
        print(
            f"error: {', '.join(unknown)}: no calibrations; studies with some: {', '.join(calibrated)}", file=sys.stderr
        )
        return 2
    stale = []
    for name in studies:
        text = as_json(study_thresholds(name))
        file = thresholds.path(name)
        if check:
            if not file.exists() or file.read_text() != text:
                stale.append(str(file))
            continue
        atomic_write_bytes(file, text.encode())
        print(f"wrote {file}")
    if stale:
        print(
            f"error: {', '.join(stale)} differ from the records; run `python -m reports calibrate --write`",
            file=sys.stderr,
        )
        return 1
    return 0
