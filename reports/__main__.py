"""``python -m reports COMMAND ...``: the reporter's one command line (``--help`` lists the commands).

Exit codes, for every command: 0 done (``compare``: no regression), 1 the check failed
(``compare``: a regression; ``drill``: the gate missed its plant or flagged a clean run;
``history show``: a new change point toward worse),
2 bad input, with a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports import calibration, compare, drill, fp32_vs_bf16, history, noise
from reports.catalog import LANGUAGES
from reports.load import collect_and_warn
from reports.render import render_all

DEFAULT_OUT = Path("results/report")


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
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
        choices=[*LANGUAGES, "all"],
        default="en",
        help="language of the pages (catalog: locale/<lang>/LC_MESSAGES/messages.po); "
        "all: English in --out, each other language in --out/<lang>",
    )


def render(args: argparse.Namespace) -> int:
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
    langs = LANGUAGES if args.lang == "all" else (args.lang,)
    for lang in langs:
        out = args.out / lang if args.lang == "all" and lang != "en" else args.out
        for path in render_all(collection, out, lang):
            print(f"wrote {path}")
    return 0


# name -> (one-line help, add_arguments, run); each module documents its command in its docstring.
COMMANDS = {
    "render": ("Markdown pages and figures from result records", add_render_arguments, render),
    "compare": ("the regression gate: a run against a baseline run", compare.add_arguments, compare.run),
    "calibrate": (
        "seed spread per case or group, and the bars the rule gives",
        calibration.add_arguments,
        calibration.run,
    ),
    "noise": ("the gate's false alarms and catches over same-commit reruns", noise.add_arguments, noise.run),
    "drill": ("prove the gate works on a run's records", drill.add_arguments, drill.run),
    "fp32-vs-bf16": ("paired fp32/bf16 runs of the same cases", fp32_vs_bf16.add_arguments, fp32_vs_bf16.run),
    "history": (
        "every run's records in one SQLite store, trends and change points (history add, show, noise)",
        history.add_arguments,
        history.run,
    ),
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m reports",
        description="Reports, the regression gate and threshold calibration, from result records.",
        epilog="exit codes: 0 done, 1 the check failed (compare: a regression; drill: the gate is open; "
        "history show: a new change point toward worse), 2 bad input",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (summary, add_arguments, run) in COMMANDS.items():
        module = sys.modules[run.__module__]
        sub = commands.add_parser(
            name,
            help=summary,
            description=module.__doc__ if run.__module__ != __name__ else summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_arguments(sub)
        sub.set_defaults(run=run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
