"""``python -m reports RESULTS... [--out DIR]``: render Markdown reports from result records.

``python -m reports compare BASELINE CURRENT...``: flag regressions against a baseline run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.i18n import LANGUAGES
from reports.load import collect_and_warn
from reports.render import render_all

DEFAULT_OUT = Path("results/report")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        from reports.compare import main as compare_main

        return compare_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    parser.add_argument(
        "results",
        nargs="*",
        type=Path,
        default=[Path("results")],
        help="result directories or record files (default: results)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder for the Markdown and figures (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default="en",
        help="language of headings, column names and generated sentences (glossary: reports/glossary_ko.csv)",
    )
    args = parser.parse_args(argv)

    missing = [str(p) for p in args.results if not p.exists()]
    if missing:
        print(
            f"error: {', '.join(missing)} does not exist; run `pytest benchmarks` (or `tox -e bench`) to "
            "produce result records",
            file=sys.stderr,
        )
        return 2
    collection = collect_and_warn(args.results)
    if collection.frame.empty:
        where = ", ".join(str(p) for p in args.results)
        print(
            f"error: no result records in {where}; run `pytest benchmarks` (or `tox -e bench`) to produce them",
            file=sys.stderr,
        )
        return 2
    for path in render_all(collection, args.out, args.lang):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
