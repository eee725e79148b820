"""``python -m reports compare BASELINE CURRENT...``: the regression gate (``reports/gate/``) on
two runs' records. Writes Markdown (``--out`` or stdout) and, with ``--json``, one entry per
compared case and metric. Exits 1 on a regression, 0 otherwise, 2 on bad input.

Cases are matched by study and case id; each side pools the seeds it has. The rules, one
module each under ``reports/gate/`` (each module's docstring states its rule): ``accuracy``
(mean drop beyond the seed noise), ``seeds`` (unstable groups: too few seeds converged),
``time`` (slower beyond the bound, host speed divided out, on the same machine and
precision only), ``instructions`` (callgrind counts), ``status`` (stopped passing). Bounds
and alphas: ``reports/gate/settings.py``, measured in docs/gate.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness import judge
from reports.gate import compare, load_side
from reports.gate.output import markdown, verdicts_json
from reports.gate.settings import INSTRUCTION_BOUND, TIME_ALPHA, TIME_BOUND, GateSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", type=Path, help="results directory (or record file) of the last good run")
    parser.add_argument("current", type=Path, nargs="+", help="results directories of this run (shards are merged)")
    parser.add_argument(
        "--acc-tolerance",
        type=float,
        default=None,
        help=f"allowed drop of an asserted accuracy (default: the baseline's seed range, else {judge.MARGIN})",
    )
    parser.add_argument(
        "--time-bound",
        type=float,
        default=TIME_BOUND,
        help=f"allowed probe-normalised growth of the timed rounds' median (default {TIME_BOUND})",
    )
    parser.add_argument(
        "--time-alpha", type=float, default=TIME_ALPHA, help=f"significance of the rank test (default {TIME_ALPHA})"
    )
    parser.add_argument(
        "--instruction-bound",
        type=float,
        default=INSTRUCTION_BOUND,
        help=f"allowed growth of a callgrind instruction count (default {INSTRUCTION_BOUND})",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here (default: stdout)")
    parser.add_argument("--json", type=Path, default=None, help="also write the verdicts here as JSON")


def run(args: argparse.Namespace) -> int:
    for path in [args.baseline, *args.current]:
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        settings = GateSettings(
            acc_tolerance=args.acc_tolerance,
            time_bound=args.time_bound,
            time_alpha=args.time_alpha,
            instruction_bound=args.instruction_bound,
        )
        result = compare(load_side([args.baseline], "baseline"), load_side(args.current, "current"), settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(result, [args.baseline], args.current)
    for path, content in ((args.out, text), (args.json, json.dumps(verdicts_json(result), indent=1) + "\n")):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {path}")
    if not args.out:
        print(text)
    for _, row in result.regressions.iterrows():
        change = f"{row['change']}, " if row["change"] else ""
        print(
            f"REGRESSION {row['study']}/{row['case_id']} {row['metric']}: {row['baseline']} -> {row['current']} "
            f"({change}allowed {row['allowed']})",
            file=sys.stderr,
        )
    return 1 if len(result.regressions) else 0
