"""The history store: one SQLite file (the standard library's ``sqlite3``; no server).

In the manner of asv's results, one row per record, each kept whole (its JSON), keyed by study,
case, seed, the commit it ran at, when it finished, the machine fingerprint and the precision.
A run is the records of one commit in a results folder (a nightly's merged shards hold one),
keyed by the commit and its run date (when its last record finished), so reruns of one commit
stay apart; its commit date comes from git where the checkout knows the commit.

Appending is all or nothing: every record of the folder is read and checked first, a corrupt
or half-written one stops with a one-line message before anything is written, and the rows go
in inside one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``; a failure rolls back). Adding
the same folder twice changes nothing. ``PRAGMA user_version`` names the store's layout; a file
of another layout, or no SQLite file at all, is refused and left as it was.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from harness.records import RecordError, ResultRecord, read_record

LAYOUT = 1  # PRAGMA user_version of a store this code writes and reads
SCHEMA = """
CREATE TABLE runs (
    git_commit TEXT NOT NULL,
    run_date TEXT NOT NULL,
    commit_date TEXT,
    PRIMARY KEY (git_commit, run_date)
);
CREATE TABLE records (
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
    record TEXT NOT NULL,
    PRIMARY KEY (study, case_id, seed, git_commit, finished_at, fingerprint, precision),
    FOREIGN KEY (git_commit, run_date) REFERENCES runs (git_commit, run_date)
);
"""
RUN_COLUMNS = ["git_commit", "run_date", "commit_date"]


class HistoryError(ValueError):
    """Bad input: the message names the file and what is wrong, on one line."""


def _is_benchmark_json(raw: object) -> bool:
    return isinstance(raw, dict) and "benchmarks" in raw and "machine_info" in raw


def _json_files(folder: Path) -> list[Path]:
    # The resume folder and hidden files sit beside the records; they are not records.
    return sorted(
        p for p in folder.rglob("*.json") if ".resume" not in p.relative_to(folder).parts and not p.name.startswith(".")
    )


def _precision(record: ResultRecord) -> str:
    """The label ``reports.load.precision`` gives (records before ``--precision``: bf16 on CUDA, fp32 else)."""
    chosen = record.environment.get("precision") or {}
    before = "bf16" if record.device == "cuda" else "fp32"
    train, inference = chosen.get("train") or before, chosen.get("inference") or before
    return train if train == inference else f"{train} training, {inference} inference"


def read_run(folder: Path) -> list[ResultRecord]:
    """Every record of a results folder, or a HistoryError naming the first bad file.
    pytest-benchmark's own JSON files (any name) are recognised and left out."""
    if not folder.is_dir():
        raise HistoryError(f"{folder}: not a results directory")
    records = []
    for path in _json_files(folder):
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raw = None  # read_record names the fault
        if _is_benchmark_json(raw):
            continue
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
            ["git", "show", "-s", "--format=%cI", commit.removesuffix("-dirty"), "--"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _open(store: Path, *, create: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit); HistoryError for a file
    that is not a store of ``LAYOUT``, or a missing one when ``create`` is false."""
    if store.is_dir():
        raise HistoryError(f"{store}: a directory, not a history store")
    if not create and not store.is_file():
        raise HistoryError(f"{store}: no such history store (the first `history add` creates it)")
    if create:
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(f"{store}: cannot make its folder ({exc.strerror})") from None
    try:
        uri = f"{store.resolve().as_uri()}?mode={'rwc' if create else 'ro'}"
        connection = sqlite3.connect(uri, uri=True, isolation_level=None)
        layout = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.Error as exc:
        raise HistoryError(f"{store}: not a history store ({exc})") from None
    if layout != LAYOUT and (tables or not create):
        connection.close()
        raise HistoryError(f"{store}: not a history store of layout {LAYOUT} (user_version {layout}, {tables} tables)")
    return connection


def add(store: Path, folder: Path) -> tuple[int, int]:
    """Append a folder's records; returns (records added, records already there)."""
    records = read_run(folder)
    by_commit: dict[str, list[ResultRecord]] = defaultdict(list)
    for record in records:
        by_commit[record.git_commit].append(record)
    dates = {commit: commit_date(commit) for commit in by_commit}
    connection = _open(store, create=True)
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            if connection.execute("PRAGMA user_version").fetchone()[0] != LAYOUT:
                # One statement at a time: executescript would commit the open transaction first.
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(f"PRAGMA user_version = {LAYOUT}")
            before = connection.execute("SELECT COUNT(*) FROM records").fetchone()[0]
            for commit, group in by_commit.items():
                run_date = max(r.finished_at for r in group)
                connection.execute("INSERT OR IGNORE INTO runs VALUES (?, ?, ?)", (commit, run_date, dates[commit]))
                connection.executemany(
                    "INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                            json.dumps(asdict(r), sort_keys=True),
                        )
                        for r in group
                    ],
                )
            added = connection.execute("SELECT COUNT(*) FROM records").fetchone()[0] - before
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise HistoryError(f"{store}: not written ({exc})") from None
    finally:
        connection.close()
    return added, len(records) - added


def load(store: Path) -> pd.DataFrame:
    """Every stored record as one flattened row (as ``reports.load`` flattens records, curves
    left out), with its run's ``run_date`` and ``commit_date`` beside it."""
    connection = _open(store, create=False)
    try:
        rows = connection.execute(
            "SELECT r.record, r.run_date, runs.commit_date FROM records r "
            "JOIN runs USING (git_commit, run_date) ORDER BY r.run_date, r.git_commit, r.study, r.case_id, r.seed"
        ).fetchall()
    except sqlite3.Error as exc:
        raise HistoryError(f"{store}: not readable ({exc})") from None
    finally:
        connection.close()
    if not rows:
        raise HistoryError(f"{store}: no records stored")
    flat = []
    for text, run_date, date in rows:
        record = json.loads(text)
        record.pop("curves", None)
        flat.append({**record, "run_date": run_date, "commit_date": date})
    return pd.json_normalize(flat)
