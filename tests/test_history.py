"""``python -m reports history add``: a store of every run, appended atomically and idempotently."""

import json
import sqlite3
from pathlib import Path

import pytest

from fakes import fake_record, write_records
from reports.__main__ import main
from reports.history import store
from studies import sbh

CASES = sbh.grid(sbh.WRITEUP001_DIGITS)[:3]
ROOT = Path(__file__).resolve().parent.parent


def night(tmp_path, name, *, commit="abc123", finished="2026-01-01T00:00:00+00:00", acc=0.97, seconds=1.0, seeds=1):
    records = []
    for case in CASES:
        for seed in range(seeds):
            record = fake_record(case, acc=acc + 0.002 * seed, seconds=seconds, finished=finished, seed=seed)
            record.git_commit = commit
            records.append(record)
    write_records(tmp_path / name, records)
    return tmp_path / name


def rows(path):
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT study, case_id, git_commit FROM records ORDER BY case_id").fetchall()


# ---- add ----------------------------------------------------------------------------------


def test_the_first_add_creates_the_store_and_a_second_add_of_the_same_run_changes_nothing(tmp_path, capsys):
    path = tmp_path / "history.sqlite"
    first = night(tmp_path, "n1")
    assert main(["history", "add", str(path), str(first)]) == 0
    assert "3 record(s) added, 0 already there" in capsys.readouterr().out
    assert main(["history", "add", str(path), str(first)]) == 0
    assert "0 record(s) added, 3 already there" in capsys.readouterr().out
    second = night(tmp_path, "n2", commit="def456", finished="2026-01-02T00:00:00+00:00")
    assert main(["history", "add", str(path), str(second)]) == 0
    assert len(rows(path)) == 6 and {r[2] for r in rows(path)} == {"abc123", "def456"}


def test_a_run_is_keyed_by_commit_and_run_date_and_each_record_is_kept_whole(tmp_path):
    path = tmp_path / "history.sqlite"
    store.add(path, night(tmp_path, "n1", finished="2026-01-01T03:00:00+00:00"))
    store.add(path, night(tmp_path, "n2", finished="2026-01-02T03:00:00+00:00"))  # the same commit rerun
    with sqlite3.connect(path) as connection:
        runs = connection.execute("SELECT git_commit, run_date FROM runs ORDER BY run_date").fetchall()
        kept = connection.execute("SELECT fingerprint, precision, record FROM records LIMIT 1").fetchone()
    assert runs == [("abc123", "2026-01-01T03:00:00+00:00"), ("abc123", "2026-01-02T03:00:00+00:00")]
    assert kept[:2] == ("0123456789abcdef", "fp32")
    assert json.loads(kept[2])["timing"]["rounds_s"], "the probe and the rounds are stored with the record"


def test_a_corrupt_record_is_refused_in_one_line_and_nothing_stored_is_lost(tmp_path, capsys):
    path = tmp_path / "history.sqlite"
    assert main(["history", "add", str(path), str(night(tmp_path, "n1"))]) == 0
    before = rows(path)
    broken = night(tmp_path, "n2", commit="def456", finished="2026-01-02T00:00:00+00:00")
    victim = sorted(broken.rglob("*.json"))[-1]
    victim.write_text(victim.read_text()[:40])  # a record cut off mid-write
    capsys.readouterr()
    assert main(["history", "add", str(path), str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refused:") and "not valid JSON" in err and "\n" not in err
    assert rows(path) == before, "the good records of the refused run were not added either"


def test_a_failure_in_the_middle_of_the_append_rolls_the_whole_run_back(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    store.add(path, night(tmp_path, "n1"))
    before = rows(path)
    calls = []

    def failing(record):
        calls.append(record)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process stopped between two rows
        return "fp32"

    monkeypatch.setattr(store, "_precision", failing)
    with pytest.raises(KeyboardInterrupt):
        store.add(path, night(tmp_path, "n2", commit="def456", finished="2026-01-02T00:00:00+00:00"))
    assert rows(path) == before
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


def test_pytest_benchmark_files_of_any_name_beside_the_records_are_left_out(tmp_path):
    folder = night(tmp_path, "n1")
    for name in ("benchmark.json", "benchmark-writeup.json"):  # the nightly's shards write both kinds
        (folder / name).write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    assert store.add(tmp_path / "history.sqlite", folder) == (3, 0)


def test_bad_input_is_exit_2_with_a_message(tmp_path, capsys):
    assert main(["history", "add", str(tmp_path / "s.sqlite"), str(tmp_path / "missing")]) == 2
    assert "not a results directory" in capsys.readouterr().err
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("not sqlite " * 100)
    assert main(["history", "add", str(not_a_store), str(night(tmp_path, "n1"))]) == 2
    assert "not a history store" in capsys.readouterr().err
    assert not_a_store.read_text() == "not sqlite " * 100
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    assert main(["history", "add", str(other), str(night(tmp_path, "n1"))]) == 2
    assert "not a history store of layout 1" in capsys.readouterr().err
    for place in (not_a_store / "s.sqlite", tmp_path):  # under a file; a folder
        assert main(["history", "add", str(place), str(night(tmp_path, "n1"))]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1
