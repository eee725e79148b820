"""``python -m reports history add`` and ``show``: a store of every run, appended atomically and
idempotently, and the change points across its runs."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakes import fake_record, write_records
from reports.__main__ import main
from reports.history import pages, store
from reports.history.detect import ACC_NOISE, MIN_SIZE, PENALTY, breakpoints
from reports.history.series import Series
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


# ---- show ---------------------------------------------------------------------------------


def history_of(tmp_path, nights):
    """A store of ``(acc, seconds)`` nights, one day apart; returns its path."""
    path = tmp_path / "history.sqlite"
    for k, (acc, seconds) in enumerate(nights, 1):
        folder = night(tmp_path, f"n{k:02d}", commit=f"c{k:02d}", finished=f"2026-01-{k:02d}T02:00:00+00:00", acc=acc)
        for record in folder.rglob("*.json"):
            raw = json.loads(record.read_text())
            raw["timing"]["rounds_s"] = [r * seconds for r in raw["timing"]["rounds_s"]]
            record.write_text(json.dumps(raw))
        store.add(path, folder)
    return path


def show(path, out, capsys=None):
    code = main(["history", "show", str(path), "--out", str(out), "--json", str(out / "cp.json")])
    return code, json.loads((out / "cp.json").read_text()) if (out / "cp.json").exists() else None


def test_a_steady_history_has_no_change_point_and_exits_0(tmp_path):
    code, found = show(history_of(tmp_path, [(0.97, 1.0)] * 8), tmp_path / "out")
    assert code == 0 and found["change_points"] == []
    page = (tmp_path / "out" / "sbh.md").read_text()
    assert "No change point" in page and "figures/sbh-time-1.png" in page and "figures/sbh-accuracy-1.png" in page
    assert (tmp_path / "out" / "figures" / "sbh-time-1.png").read_bytes().startswith(b"\x89PNG")
    assert "[sbh.md](sbh.md)" in (tmp_path / "out" / "index.md").read_text()


def test_a_slowdown_is_found_at_its_first_night_and_fails_only_the_night_it_is_first_seen(tmp_path):
    # Nights 1-5 at 1.0 s, from night 6 at 1.3 s: a step that large is new on night 6 itself.
    times = [1.0, 1.01, 0.99, 1.0, 1.02, 1.3, 1.31, 1.29, 1.3]
    for nights, failing in ((5, False), (6, True), (7, False), (9, False)):
        folder = tmp_path / str(nights)
        code, found = show(history_of(folder, [(0.97, t) for t in times[:nights]]), folder / "out")
        slower = [p for p in found["change_points"] if p["metric"] == "inference_s"]
        assert code == int(failing), nights
        if nights == 5:
            assert slower == []
            continue
        assert {p["case_id"] for p in slower} == {c.id for c in CASES}
        assert {(p["previous_commit"], p["commit"], p["direction"], p["new"]) for p in slower} == {
            ("c05", "c06", "worse", failing)
        }, nights
        assert all(1.25 < p["ratio"] < 1.35 for p in slower)
    assert "`c05..c06`" in (tmp_path / "9" / "out" / "sbh.md").read_text()


def test_a_small_step_waits_for_its_second_night():
    x = np.log([1.0, 1.01, 0.99, 1.0, 1.02, 1.1])
    assert breakpoints(x, 0.024) == []
    assert breakpoints(np.append(x, np.log(1.1)), 0.024) == [5]


def test_a_faster_night_is_a_change_point_toward_better_and_never_fails(tmp_path):
    code, found = show(history_of(tmp_path, [(0.97, 1.0)] * 5 + [(0.97, 0.7)] * 2), tmp_path / "out")
    assert code == 0 and {p["direction"] for p in found["change_points"]} == {"better"}


def test_a_slower_host_seen_by_the_probe_is_no_change_point(tmp_path):
    """Every time scaled alike, the probe included (the gate's contract): the host, not the code."""
    path = tmp_path / "history.sqlite"
    for k in range(1, 9):
        folder = night(tmp_path, f"n{k}", commit=f"c{k}", finished=f"2026-01-0{k}T02:00:00+00:00")
        host = 1.3 if k >= 5 else 1.0
        for file in folder.rglob("*.json"):
            raw = json.loads(file.read_text())
            raw["timing"]["rounds_s"] = [r * host for r in raw["timing"]["rounds_s"]]
            for when in ("before", "after"):
                raw["environment"]["probe"][when] = {k: v * host for k, v in raw["environment"]["probe"][when].items()}
            file.write_text(json.dumps(raw))
        store.add(path, folder)
    code, found = show(path, tmp_path / "out")
    assert code == 0 and found["change_points"] == []


def test_the_probe_cannot_accuse_a_night_whose_raw_times_did_not_move(tmp_path):
    path = tmp_path / "history.sqlite"
    for k in range(1, 9):
        folder = night(tmp_path, f"n{k}", commit=f"c{k}", finished=f"2026-01-0{k}T02:00:00+00:00")
        for file in folder.rglob("*.json"):
            raw = json.loads(file.read_text())
            for when in ("before", "after"):  # a faster probe reading alone: normalised times 1.4x
                raw["environment"]["probe"][when]["matmul_s"] /= 1.4 if k >= 5 else 1.0
            file.write_text(json.dumps(raw))
        store.add(path, folder)
    code, found = show(path, tmp_path / "out")
    assert code == 0 and [p for p in found["change_points"] if p["metric"] == "inference_s"] == []


def test_an_accuracy_drop_of_a_point_and_a_quarter_is_found_and_half_a_point_is_not():
    steady = [0.97] * 5
    assert breakpoints(np.asarray(steady + [0.97 - 0.0125] * 5), ACC_NOISE) == [5]
    assert breakpoints(np.asarray(steady + [0.97 - 0.005] * 5), ACC_NOISE) == []
    assert MIN_SIZE == 2 and PENALTY > 0


def test_accuracy_series_take_the_seeds_mean_and_draw_their_band(tmp_path):
    path = tmp_path / "history.sqlite"
    for k in range(1, 7):
        store.add(path, night(tmp_path, f"n{k}", commit=f"c{k}", finished=f"2026-01-0{k}T02:00:00+00:00", seeds=3))
    analysis = pages.analyse(store.load(path))
    accuracy = [s for s in analysis.series if s.kind == "accuracy"]
    assert accuracy and all(s.points["seeds"].eq(3).all() for s in accuracy)
    first = accuracy[0].points.iloc[0]
    assert first["low"] == pytest.approx(first["level"] - 0.002) and first["high"] == pytest.approx(
        first["level"] + 0.002
    )
    text, figures = pages.study_page("sbh", analysis, path)
    assert "band: the seeds' range (3 seeds)" in text and "figures/sbh-accuracy-1.png" in figures


def test_many_cases_are_drawn_one_panel_per_threshold_group():
    import pandas as pd

    points = pd.DataFrame(
        {
            "run": [0, 1],
            "git_commit": ["a", "b"],
            "run_date": ["1", "2"],
            "level": [1.0, 1.0],
            "raw": [1.0, 1.0],
            "low": [np.nan] * 2,
            "high": [np.nan] * 2,
            "seeds": [1, 1],
        }
    )
    many = [
        Series("sbh", f"case{i:02d}", "inference_s", "time", "f", "fp32", points, group=f"g{i % 3}") for i in range(20)
    ]
    chosen = pages.panels(many, "time")
    assert [p.title.split(" ·")[0] for p in chosen] == ["g0", "g1", "g2"] and all(p.relative for p in chosen)
    assert len(pages.panels(many[:5], "time")) == 5, "few cases: a panel each"


def test_show_bad_input_is_exit_2_in_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["history", "show", str(tmp_path / "missing.sqlite"), "--out", str(out)]) == 2
    assert "no such history store" in capsys.readouterr().err
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00" * 300)
    assert main(["history", "show", str(garbage), "--out", str(out)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    path = history_of(tmp_path, [(0.97, 1.0)] * 4)
    assert main(["history", "show", str(path), "--out", str(a_file)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not out.exists(), "no output left behind"


def test_history_show_imports_no_torch(tmp_path):
    """The reporter's floor stays torch-free: ruptures, pandas and matplotlib only."""
    path = history_of(tmp_path, [(0.97, 1.0)] * 4)
    code = (
        "import sys\nfrom reports.__main__ import main\n"
        "assert main(['history', 'show', sys.argv[1], '--out', sys.argv[2]]) == 0\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:5]"
    )
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "out")], cwd=ROOT, check=True)


def test_showing_twice_gives_identical_files(tmp_path):
    path = history_of(tmp_path, [(0.97, 1.0)] * 3 + [(0.96, 1.3)] * 3)
    show(path, tmp_path / "a")
    show(path, tmp_path / "b")
    for file in (tmp_path / "a").rglob("*.*"):
        if file.name != "cp.json":
            assert file.read_bytes() == (tmp_path / "b" / file.relative_to(tmp_path / "a")).read_bytes(), file.name
