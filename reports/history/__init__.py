"""``python -m reports history add STORE RESULTS_DIR``: every run's records, kept night after night.

STORE is one SQLite file created by the first add (``reports/history/store.py``): all or nothing,
a corrupt or half-written record refused in one line, adding twice changes nothing. A run's
commit and time come from its records (``git_commit``, ``finished_at``).
Exit codes: 0 added or already there, 2 bad input with a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.history.store import HistoryError, add


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    adding = actions.add_parser("add", help="append a results folder's records to STORE (created by the first add)")
    adding.add_argument("store", type=Path, help="the history file (SQLite)")
    adding.add_argument("results", type=Path, help="a results directory, e.g. a nightly's merged records")


def _add(args: argparse.Namespace) -> int:
    added, there = add(args.store, args.results)
    print(f"{args.store}: {added} record(s) added, {there} already there")
    return 0


ACTIONS = {"add": _add}


def run(args: argparse.Namespace) -> int:
    try:
        return ACTIONS[args.action](args)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
