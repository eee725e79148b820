"""``python -m reports history add``: a store of every run, appended atomically and idempotently."""

import sqlite3

from fakes import fake_record, write_records
from reports.__main__ import main
from studies import sbh

CASES = sbh.grid(sbh.WRITEUP001_DIGITS)[:3]


def night(tmp_path, name, *, commit="abc123", finished="2026-01-01T00:00:00+00:00"):
    records = []
    for case in CASES:
        record = fake_record(case, acc=0.97, seconds=1.0, finished=finished)
        record.git_commit = commit
        records.append(record)
    write_records(tmp_path / name, records)
    return tmp_path / name


def rows(store):
    with sqlite3.connect(store) as connection:
        return connection.execute("SELECT study, case_id, git_commit FROM records ORDER BY case_id").fetchall()


def test_the_first_add_creates_the_store_and_a_second_add_of_the_same_run_changes_nothing(tmp_path, capsys):
    store = tmp_path / "history.sqlite"
    first = night(tmp_path, "n1")
    assert main(["history", "add", str(store), str(first)]) == 0
    assert "3 record(s) added, 0 already there" in capsys.readouterr().out
    assert main(["history", "add", str(store), str(first)]) == 0
    assert "0 record(s) added, 3 already there" in capsys.readouterr().out
    second = night(tmp_path, "n2", commit="def456", finished="2026-01-02T00:00:00+00:00")
    assert main(["history", "add", str(store), str(second)]) == 0
    assert len(rows(store)) == 6 and {r[2] for r in rows(store)} == {"abc123", "def456"}


def test_a_corrupt_record_is_refused_in_one_line_and_nothing_stored_is_lost(tmp_path, capsys):
    store = tmp_path / "history.sqlite"
    assert main(["history", "add", str(store), str(night(tmp_path, "n1"))]) == 0
    before = rows(store)
    broken = night(tmp_path, "n2", commit="def456", finished="2026-01-02T00:00:00+00:00")
    victim = sorted(broken.rglob("*.json"))[-1]
    victim.write_text(victim.read_text()[:40])  # a record cut off mid-write
    capsys.readouterr()
    assert main(["history", "add", str(store), str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refused:") and "not valid JSON" in err and "\n" not in err
    assert rows(store) == before, "the good records of the refused run were not added either"


def test_bad_input_is_exit_2_with_a_message(tmp_path, capsys):
    assert main(["history", "add", str(tmp_path / "s.sqlite"), str(tmp_path / "missing")]) == 2
    assert "not a results directory" in capsys.readouterr().err
    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("not sqlite " * 100)
    assert main(["history", "add", str(not_a_store), str(night(tmp_path, "n1"))]) == 2
    assert "not a history store" in capsys.readouterr().err
    assert not_a_store.read_text() == "not sqlite " * 100
