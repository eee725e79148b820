"""``python -m reports.calibration RESULTS... --study S --metric M``: the spread of one metric
over seeded runs, per case, as the Markdown table that docs/thresholds.md quotes.

Thresholds are set from such tables (AlgoPerf-style: several seeded runs of each case, not
one lucky run); rerun this after changing a budget and update the profile and the doc.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.load import collect
from reports.render import md_table


def spread(paths: list[Path], study: str, metric: str):
    df = collect(paths).study(study)
    column = f"metrics.{metric}"
    if df.empty or column not in df:
        raise SystemExit(f"error: no {study} records with metrics.{metric} in {', '.join(map(str, paths))}")
    df = df[df[column].notna()]
    table = df.groupby("case_id")[column].agg(["count", "min", "mean", "max"]).rename(columns={"count": "seeds"})
    table.loc["(all cases)"] = [len(df), df[column].min(), df[column].mean(), df[column].max()]
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.calibration", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--study", required=True)
    parser.add_argument("--metric", required=True)
    args = parser.parse_args(argv)
    print(md_table(spread(args.results, args.study, args.metric)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
