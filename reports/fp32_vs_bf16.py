"""``python -m reports fp32-vs-bf16 FP32_RESULTS BF16_RESULTS --study S --metric M``: one metric
of the same cases trained in fp32 and in bf16, side by side, as docs/thresholds.md quotes it.

A seed fixes the initial weights, the subset and the batch order, so run (case, seed) in fp32
and run (case, seed) in bf16 differ only by the precision: they are compared as pairs, and
only over the cells both sides have. A difference counts when the mean of the paired
differences is larger than the seed spread (the widest seed-to-seed range of the case, or of
the group, on either side) and a paired t-test agrees (p < 0.05); otherwise it is a tie
within noise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from reports.load import collect, precision
from reports.render import md_table
from reports.stats import ALPHA


def paired_runs(fp32_dirs: list[Path], bf16_dirs: list[Path], study: str, metric: str) -> pd.DataFrame:
    """One row per (case, seed) that both sides ran: group, case, seed, fp32, bf16."""
    column = f"metrics.{metric}"
    sides = {}
    for name, dirs in (("fp32", fp32_dirs), ("bf16", bf16_dirs)):
        df = collect(dirs).study(study)
        if df.empty or column not in df:
            raise SystemExit(f"error: no {study} records with {column} in {', '.join(map(str, dirs))}")
        df = df[df[column].notna()]
        labels = set(precision(df))
        if labels != {name}:
            raise SystemExit(
                f"error: {', '.join(map(str, dirs))} should hold {name} records only, holds {', '.join(sorted(labels))}"
            )
        sides[name] = df.rename(columns={column: name, "params.threshold_group": "group"})
    both = sides["fp32"][["group", "case_id", "seed", "fp32"]].merge(
        sides["bf16"][["case_id", "seed", "bf16"]], on=["case_id", "seed"]
    )
    if both.empty:
        raise SystemExit("error: no (case, seed) ran in both precisions")
    return both.sort_values(["group", "case_id", "seed"])


def _seed_range(values: pd.Series) -> float:
    return float(values.max() - values.min()) if values.count() > 1 else float("nan")


def _row(name: str, runs: pd.DataFrame, spread: float) -> dict:
    diff = runs["bf16"] - runs["fp32"]
    p = float(stats.ttest_rel(runs["bf16"], runs["fp32"]).pvalue) if len(runs) > 1 and diff.std() > 0 else float("nan")
    beyond = bool(abs(diff.mean()) > spread and p < ALPHA)
    words = ("bf16 higher" if diff.mean() > 0 else "bf16 lower") if beyond else "tie (within noise)"
    return {
        "": name,
        "cells": len(runs),
        "seeds": runs["seed"].nunique(),
        "fp32 mean": runs["fp32"].mean(),
        "bf16 mean": runs["bf16"].mean(),
        "bf16 - fp32": diff.mean(),
        "differences (min to max)": f"{diff.min():+.4f} to {diff.max():+.4f}",
        "seed spread": spread,
        "paired t p": p,
        "verdict": words,
    }


def compare(runs: pd.DataFrame) -> pd.DataFrame:
    """A row per case, then a row per group over the cells every case of it has."""
    rows = []
    for group, in_group in runs.groupby("group", sort=True):
        spreads = {}
        for case_id, case in in_group.groupby("case_id", sort=True):
            spreads[case_id] = np.nanmax([_seed_range(case["fp32"]), _seed_range(case["bf16"]), 0.0])
            rows.append(_row(case_id, case, spreads[case_id]))
        rows.append(_row(f"**{group}** (all cases)", in_group, max(spreads.values())))
    return pd.DataFrame(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fp32", type=Path, help="results directory of the fp32 runs")
    parser.add_argument("bf16", type=Path, help="results directory of the bf16 runs")
    parser.add_argument("--study", required=True)
    parser.add_argument("--metric", required=True)
    parser.add_argument("--groups", nargs="*", help="threshold groups to keep (default: every group both sides ran)")


def run(args: argparse.Namespace) -> int:
    for path in (args.fp32, args.bf16):
        if not path.is_dir():
            print(f"error: {path} is not a results directory", file=sys.stderr)
            return 2
    runs = paired_runs([args.fp32], [args.bf16], args.study, args.metric)
    if args.groups:
        runs = runs[runs["group"].isin(args.groups)]
        if runs.empty:
            print(f"error: no paired runs in groups {', '.join(args.groups)}", file=sys.stderr)
            return 2
    print(md_table(compare(runs), floatfmt=".4f", index=False))
    return 0
