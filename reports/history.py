"""``python -m reports history add STORE RESULTS_DIR``: every run's records, kept night after night.

The store is one SQLite file (the standard library's ``sqlite3``; no server), in the manner of
asv's results: one row per record, keyed by study, case, seed, the commit it ran at, when it
finished and the machine fingerprint, with its precision, status, metrics and timed rounds.
A run is the records of one commit in a results folder (a nightly's merged shards hold one),
keyed by the commit and its run date (when its last record finished), so reruns of one commit
stay apart; its commit date comes from git where the checkout knows the commit.

Appending is all or nothing: every record of the folder is read and checked first, a corrupt
or half-written one stops the command with a one-line message before anything is written, and
the rows go in inside one transaction. Adding the same folder twice changes nothing.
Exit codes: 0 added or already there, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from harness.records import RecordError, ResultRecord, read_record

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    git_commit TEXT NOT NULL,
    run_date TEXT NOT NULL,
    commit_date TEXT,
    PRIMARY KEY (git_commit, run_date)
);
CREATE TABLE IF NOT EXISTS records (
    study TEXT NOT NULL,
    case_id TEXT NOT NULL,
    seed INTEGER NOT NULL,
    git_commit TEXT NOT NULL,
    run_date TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    precision TEXT NOT NULL,
    profile TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    rounds_s TEXT,
    PRIMARY KEY (study, case_id, seed, git_commit, finished_at, fingerprint)
);
"""


class HistoryError(ValueError):
    """Bad input: the message names the file and what is wrong, on one line."""


def _json_files(folder: Path) -> list[Path]:
    # pytest-benchmark's JSON and the resume folder sit beside the records; they are not records.
    return sorted(p for p in folder.rglob("*.json") if ".resume" not in p.parts and p.name != "benchmark.json")


def _precision(record: ResultRecord) -> str:
    chosen = record.environment.get("precision") or {}
    train, inference = chosen.get("train"), chosen.get("inference")
    if not train:
        return "not recorded"
    return train if train == inference else f"{train} training, {inference} inference"


def read_run(folder: Path) -> list[ResultRecord]:
    """Every record of a results folder, or a HistoryError naming the first bad file."""
    if not folder.is_dir():
        raise HistoryError(f"{folder}: not a results directory")
    records = []
    for path in _json_files(folder):
        try:
            record = read_record(path)
        except RecordError as exc:
            raise HistoryError(f"refused: {exc}") from None
        if not record.git_commit or not record.finished_at:
            raise HistoryError(f"refused: {path}: no git_commit or finished_at (a half-written record?)")
        records.append(record)
    if not records:
        raise HistoryError(f"{folder}: no result records")
    return records


def commit_date(commit: str) -> str | None:
    """The commit's date from the checkout's git, or None where git does not know it."""
    try:
        out = subprocess.run(
            ["git", "show", "-s", "--format=%cI", commit.removesuffix("-dirty")],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def add(store: Path, folder: Path) -> tuple[int, int]:
    """Append a folder's records; returns (records added, records already there)."""
    records = read_run(folder)
    by_commit: dict[str, list[ResultRecord]] = defaultdict(list)
    for record in records:
        by_commit[record.git_commit].append(record)
    connection = sqlite3.connect(store)
    try:
        with connection:  # one transaction: all rows or none
            connection.executescript(SCHEMA)
            before = connection.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            for commit, group in by_commit.items():
                run_date = max(r.finished_at for r in group)
                connection.execute(
                    "INSERT OR IGNORE INTO runs VALUES (?, ?, ?)", (commit, run_date, commit_date(commit))
                )
                connection.executemany(
                    "INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            r.study,
                            r.case_id,
                            r.seed,
                            commit,
                            run_date,
                            r.finished_at,
                            r.environment.get("fingerprint") or "not recorded",
                            _precision(r),
                            r.profile,
                            r.status,
                            json.dumps(r.metrics, sort_keys=True),
                            json.dumps(r.timing.get("rounds_s")) if r.timing.get("rounds_s") else None,
                        )
                        for r in group
                    ],
                )
            added = connection.execute("SELECT COUNT(*) FROM records").fetchone()[0] - before
    except sqlite3.DatabaseError as exc:
        raise HistoryError(f"{store}: not a history store ({exc})") from None
    finally:
        connection.close()
    return added, len(records) - added


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    adding = actions.add_parser("add", help="append a results folder's records to STORE (created by the first add)")
    adding.add_argument("store", type=Path, help="the history file (SQLite)")
    adding.add_argument("results", type=Path, help="a results directory, e.g. a nightly's merged records")


def run(args: argparse.Namespace) -> int:
    try:
        added, there = add(args.store, args.results)
    except HistoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.store}: {added} record(s) added, {there} already there")
    return 0
