"""``python -m reports history {add,show,noise}``: every run's records, kept night after night,
and the change points across them.

- ``history add STORE RESULTS_DIR``: append a results folder (a nightly's merged shards, any
  run) to STORE, one SQLite file created by the first add (``reports/history/store.py``): all
  or nothing, a corrupt or half-written record refused in one line, adding twice changes
  nothing. A run's commit and time come from its records (``git_commit``, ``finished_at``).
- ``history show STORE --out DIR [--json FILE]``: a Markdown page per study with small-multiple
  figures of every case's accuracy and time over the runs (ordered by run date), one line per
  machine fingerprint and precision, the seed band, the change points with the commit range
  they happened in (``reports/history/pages.py``); ``--json`` writes them as
  ``{"change_points": [{"case_id", "metric", "commit", "direction", "ratio", ...}]}``.
  Exit 1 when a change point toward worse is new with the newest run: it lies in a series whose
  last run is the store's newest, and the same series without that run has no change point in
  the same direction at that run or one either side (README, docs/gate.md).
- ``history noise RUN_DIR...``: same-commit reruns as a history of nights, with planted steps
  and creeps: the false alarms and detections docs/gate.md keeps (``reports/history/noise.py``);
  ``--store`` writes that history into a store instead.

Change points: ruptures' PELT on the series, tuned on the measured noise
(``reports/history/detect.py``). Exit codes: 0 done, 1 a new change point toward worse
(``show``), 2 bad input with a one-line message.
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
    showing = actions.add_parser("show", help="pages, figures and change points of STORE; exit 1 on a new worse one")
    showing.add_argument("store", type=Path, help="the history file (SQLite)")
    showing.add_argument("--out", type=Path, required=True, help="folder for index.md, one page per study, figures/")
    showing.add_argument("--json", type=Path, default=None, help="also write the change points here as JSON")
    noise = actions.add_parser("noise", help="same-commit reruns as nights: false alarms and planted changes found")
    noise.add_argument("runs", type=Path, nargs="+", help="one results directory per same-commit rerun, in order")
    noise.add_argument("--store", type=Path, default=None, help="append the nights to this store instead of measuring")
    noise.add_argument("--plant", choices=("step", "creep"), default=None, help="with --store: plant this change")
    noise.add_argument("--case", default=None, help="with --plant: only into STUDY/CASE (default: every timed case)")


def _add(args: argparse.Namespace) -> int:
    added, there = add(args.store, args.results)
    print(f"{args.store}: {added} record(s) added, {there} already there")
    return 0


def _show(args: argparse.Namespace) -> int:
    from reports.history import pages, store

    if args.out.exists() and not args.out.is_dir():
        raise HistoryError(f"--out {args.out}: not a folder")
    if args.json is not None and args.json.is_dir():
        raise HistoryError(f"--json {args.json}: a folder, not a file")
    analysis = pages.analyse(store.load(args.store))
    for path in pages.render(analysis, args.store, args.out, args.json):
        print(f"wrote {path}")
    for p in analysis.failing:
        print(
            f"CHANGE POINT {p.study}/{p.case_id} {p.metric} ({p.fingerprint} / {p.precision}): {p.direction} "
            f"{p.ratio:.3f}x in {p.previous_commit}..{p.commit}, new with the newest run",
            file=sys.stderr,
        )
    return 1 if analysis.failing else 0


def _noise(args: argparse.Namespace) -> int:
    from reports.history import noise

    missing = [str(p) for p in args.runs if not p.is_dir()]
    if missing:
        raise HistoryError(f"{', '.join(missing)}: not a results directory")
    if args.store is None:
        if args.plant or args.case:
            raise HistoryError("--plant and --case go with --store")
        if len(args.runs) < 4:
            raise HistoryError("give at least four runs (a change point needs two nights on each side)")
        print(noise.markdown(args.runs, noise.measure(args.runs)))
        return 0
    case = None
    if args.case:
        if not args.plant:
            raise HistoryError("--case goes with --plant")
        study, _, case_id = args.case.partition("/")
        if not case_id:
            raise HistoryError(f"--case {args.case}: give STUDY/CASE, e.g. blocks/vgg")
        case = (study, case_id)
    plant = noise.Plant(args.plant, case) if args.plant else None
    added, there = noise.write_store(args.store, args.runs, plant)
    print(f"{args.store}: {len(args.runs)} night(s), {added} record(s) added, {there} already there")
    return 0


ACTIONS = {"add": _add, "show": _show, "noise": _noise}


def run(args: argparse.Namespace) -> int:
    try:
        return ACTIONS[args.action](args)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
