"""``python -m reports compare BASELINE CURRENT``: did this run get worse than the last good one?

Cases are matched by study and case id; metrics are averaged over the seeds each side has.
A case regresses when

- a thresholded metric (the accuracies each case asserts) drops by more than the tolerance:
  by default the widest seed-to-seed range of that metric in the baseline (one case run
  with several seeds), and ``DEFAULT_ACC_TOLERANCE`` where the baseline has one seed per case;
- the median inference time grows by more than ``--time-tolerance`` (compared only between
  records of the same device and the same precision, since a CPU and a GPU timing, or an
  fp32 and a bf16 one, say nothing about each other);
- it passed in the baseline and did not pass now (failed threshold, error, diverged, oom).

Writes a Markdown table (``--out`` or stdout) and exits 1 on a regression, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.load import collect_and_warn, precision
from reports.load import measured as is_measured
from reports.render import md_table

# The smallest margin docs/thresholds.md keeps below the lowest calibration run.
DEFAULT_ACC_TOLERANCE = 0.01
# Median inference times of the 15 seed-001 cases moved by -6 % to +15 % between two runs on
# this 2-core CPU (the shipped run and a CI run, docs/thresholds.md); a quarter is a slowdown.
DEFAULT_TIME_TOLERANCE = 0.25
TIME_METRIC = "inference_s"


@dataclass
class Comparison:
    table: pd.DataFrame  # one row per (case, metric) compared
    regressions: pd.DataFrame
    notes: list[str]


def _frame(paths: list[Path], side: str) -> pd.DataFrame:
    collection = collect_and_warn(paths, side)
    if collection.frame.empty:
        raise ValueError(f"{side}: no result records in {', '.join(map(str, paths))}")
    return collection.frame


def _thresholded(frame: pd.DataFrame) -> dict[str, list[str]]:
    """study -> the metrics its cases assert (the columns ``thresholds.<metric>``)."""
    out = {}
    for study, group in frame.groupby("study"):
        out[study] = sorted(
            c.removeprefix("thresholds.")
            for c in group.columns
            if c.startswith("thresholds.") and group[c].notna().any()
        )
    return out


def seed_spread(frame: pd.DataFrame, metric: str) -> float | None:
    """Widest max-min of ``metric`` over the cases that ran with more than one seed."""
    column = f"metrics.{metric}"
    if column not in frame:
        return None
    ranges = (
        frame.groupby("case_id")[column].agg(lambda s: s.max() - s.min() if s.count() > 1 else float("nan")).dropna()
    )
    return float(ranges.max()) if len(ranges) else None


def compare(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    *,
    acc_tolerance: float | None = None,
    time_tolerance: float = DEFAULT_TIME_TOLERANCE,
) -> Comparison:
    notes, rows = [], []
    metrics_of = _thresholded(baseline)
    for study, metrics in metrics_of.items():
        base, cur = baseline[baseline["study"] == study], current[current["study"] == study]
        for metric in metrics:
            spread = seed_spread(base, metric)
            tolerance = acc_tolerance if acc_tolerance is not None else (spread if spread else DEFAULT_ACC_TOLERANCE)
            source = (
                "--acc-tolerance"
                if acc_tolerance is not None
                else ("baseline seed spread" if spread else "default (baseline has one seed per case)")
            )
            notes.append(f"{study} `{metric}`: tolerance {tolerance:.4f} ({source}).")
            rows += _metric_rows(base, cur, study, metric, tolerance, higher_is_better=True, relative=False)
        if _same_devices(base, cur):
            timed_base, timed_cur, mixed = _same_precision(base, cur)
            if mixed:
                notes.append(
                    f"{study}: inference times of {len(mixed)} case(s) not compared; they ran in another precision "
                    f"than the baseline ({', '.join(mixed[:5])}{' …' if len(mixed) > 5 else ''})."
                )
            rows += _metric_rows(
                timed_base, timed_cur, study, TIME_METRIC, time_tolerance, higher_is_better=False, relative=True
            )
        else:
            notes.append(
                f"{study}: inference times not compared; the runs are on different devices ({_devices(base)} vs "
                f"{_devices(cur)})."
            )
        rows += _status_rows(base, cur, study)
        missing = sorted(set(base["case_id"]) - set(cur["case_id"]))
        if missing:
            notes.append(
                f"{study}: {len(missing)} baseline case(s) not in the current run: "
                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}."
            )
    table = pd.DataFrame(
        rows, columns=["study", "case_id", "metric", "baseline", "current", "change", "allowed", "verdict"]
    )
    return Comparison(table=table, regressions=table[table["verdict"] == "REGRESSION"], notes=notes)


def _devices(frame: pd.DataFrame) -> str:
    column = (
        "environment.gpu"
        if "environment.gpu" in frame and frame["environment.gpu"].notna().any()
        else "environment.cpu"
    )
    return ", ".join(sorted({str(v) for v in frame.get(column, pd.Series(dtype=object)).dropna()})) or "unknown"


def _same_devices(base: pd.DataFrame, cur: pd.DataFrame) -> bool:
    return _devices(base) == _devices(cur) and set(base["device"]) == set(cur["device"])


def _same_precision(base: pd.DataFrame, cur: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Both sides cut to the cases whose every record ran in one and the same precision,
    and the ids of the cases dropped: an fp32 and a bf16 timing say nothing about each other."""
    kinds = {
        side: frame.assign(_p=precision(frame)).groupby("case_id")["_p"].agg(frozenset)
        for side, frame in (("base", base), ("cur", cur))
    }
    common = kinds["base"].index.intersection(kinds["cur"].index)
    mixed = sorted(c for c in common if len(kinds["base"][c]) > 1 or kinds["base"][c] != kinds["cur"][c])
    return base[~base["case_id"].isin(mixed)], cur[~cur["case_id"].isin(mixed)], mixed


def _means(frame: pd.DataFrame, metric: str) -> pd.Series:
    column = f"metrics.{metric}"
    measured = frame[is_measured(frame)]
    if column not in measured:
        return pd.Series(dtype=float)
    return measured.groupby("case_id")[column].mean().dropna()


def _metric_rows(base, cur, study, metric, tolerance, *, higher_is_better: bool, relative: bool) -> list[dict]:
    b, c = _means(base, metric), _means(cur, metric)
    rows = []
    for case_id in sorted(set(b.index) & set(c.index)):
        before, after = b[case_id], c[case_id]
        if relative:
            change = after / before - 1 if before > 0 else 0.0
            worse = change > tolerance
            shown, allowed = f"{change:+.1%}", f"+{tolerance:.0%}"
        else:
            change = after - before
            worse = -change > tolerance if higher_is_better else change > tolerance
            shown, allowed = f"{change:+.4f}", f"-{tolerance:.4f}"
        rows.append(
            {
                "study": study,
                "case_id": case_id,
                "metric": metric,
                "baseline": before,
                "current": after,
                "change": shown,
                "allowed": allowed,
                "verdict": "REGRESSION" if worse else "ok",
            }
        )
    return rows


def _status_rows(base, cur, study) -> list[dict]:
    passed_before = set(base.loc[base["status"] == "passed", "case_id"])
    latest = cur.groupby("case_id")["status"].agg(
        lambda s: "passed" if (s == "passed").all() else ", ".join(sorted(set(s) - {"passed"}))
    )
    return [
        {
            "study": study,
            "case_id": case_id,
            "metric": "status",
            "baseline": "passed",
            "current": status,
            "change": "",
            "allowed": "passed",
            "verdict": "REGRESSION",
        }
        for case_id, status in latest.items()
        if case_id in passed_before and status != "passed"
    ]


def markdown(result: Comparison, baseline: list[Path], current: list[Path]) -> str:
    lines = [
        "# Comparison against the baseline",
        "",
        f"Baseline: {', '.join(map(str, baseline))} · current: {', '.join(map(str, current))}",
        "",
        f"**{len(result.regressions)} regression(s)** in {result.table['case_id'].nunique()} compared case(s).",
        "",
    ]
    lines += [f"- {note}" for note in result.notes]
    if not result.regressions.empty:
        lines += ["", "## Regressions", "", md_table(result.regressions, index=False)]
    lines += ["", "## Every comparison", "", md_table(result.table, index=False), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reports compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("baseline", type=Path, help="results directory (or record file) of the last good run")
    parser.add_argument("current", type=Path, nargs="+", help="results directories of this run (shards are merged)")
    parser.add_argument(
        "--acc-tolerance",
        type=float,
        default=None,
        help="allowed drop of an asserted accuracy (default: baseline seed spread, else %(const)s)".replace(
            "%(const)s", str(DEFAULT_ACC_TOLERANCE)
        ),
    )
    parser.add_argument(
        "--time-tolerance",
        type=float,
        default=DEFAULT_TIME_TOLERANCE,
        help=f"allowed relative growth of the median inference time (default {DEFAULT_TIME_TOLERANCE})",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here (default: stdout)")
    args = parser.parse_args(argv)
    for path in [args.baseline, *args.current]:
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        result = compare(
            _frame([args.baseline], "baseline"),
            _frame(args.current, "current"),
            acc_tolerance=args.acc_tolerance,
            time_tolerance=args.time_tolerance,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(result, [args.baseline], args.current)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    for _, row in result.regressions.iterrows():
        print(
            f"REGRESSION {row['study']}/{row['case_id']} {row['metric']}: {row['baseline']} -> {row['current']} "
            f"({row['change']}, allowed {row['allowed']})",
            file=sys.stderr,
        )
    return 1 if len(result.regressions) else 0
