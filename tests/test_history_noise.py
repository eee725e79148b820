"""The history's change points on the measured noise: the ten same-commit one-thread runs
(runs/gate-noise/avx512-1thread) as ten nights give none, a planted 1.3x step from night 6 is
found at night 6's commit, a 3 %-per-night creep over 8 nights is found; and the nightly's
sequence (committed history, tonight's records, ``history show``) passes on the committed runs
and fails on a planted creep."""

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness.records import read_record
from reports.__main__ import main
from reports.history import noise
from reports.history.detect import PENALTY, TIME_NOISE

ROOT = Path(__file__).resolve().parent.parent
RUNS = [ROOT / f"runs/gate-noise/avx512-1thread/run{k:02d}" for k in range(1, 11)]
TIMED = [("blocks", "vgg"), ("perf", "lenet5-new"), ("sbh", "d012-arch2-resnet18"), ("sbh", "d012-arch4-1-resnet18")]


@pytest.fixture(scope="module")
def measured():
    return noise.measure(RUNS)


def test_the_noise_floor_the_detector_uses_is_the_one_measured_on_the_committed_runs(measured):
    assert round(measured["floor"], 3) == TIME_NOISE


def test_the_ten_same_commit_runs_as_nights_give_no_change_point_in_any_prefix(measured):
    assert {(s.study, s.case_id) for s in measured["base"] if s.kind == "time"} == set(TIMED)
    assert all(len(s.points) == 10 for s in measured["base"])
    assert measured["false_alarms"][PENALTY] == (0, [])


def test_the_copies_get_one_synthetic_commit_and_date_per_night_and_the_records_are_untouched():
    before = {p: p.read_bytes() for p in RUNS[0].rglob("*.json")}
    nights = noise.nights(RUNS)
    commits = [{r["git_commit"] for r in n} for n in nights]
    assert commits == [{f"9c2d954-night{k:02d}"} for k in range(1, 11)]
    ends = [max(r["finished_at"] for r in n) for n in nights]
    assert ends == sorted(ends) and len(set(ends)) == 10
    assert ends[-1] == max(read_record(p).finished_at for p in RUNS[-1].rglob("*.json"))
    assert before == {p: p.read_bytes() for p in RUNS[0].rglob("*.json")}


@pytest.mark.parametrize("case", TIMED, ids=lambda c: "/".join(c))
def test_a_planted_step_from_night_6_is_found_at_night_6s_commit(measured, case):
    found, flags, _ = measured["trials"]["step"][case][PENALTY]
    assert [(p.commit, p.direction) for p in found] == [("9c2d954-night06", "worse")]
    assert 1.2 < found[0].ratio < 1.4
    assert flags and {p.commit for _, p in flags} == {"9c2d954-night06"}
    assert min(n for n, _ in flags) in (6, 7), "flagged the night of the step or the next"


@pytest.mark.parametrize("case", TIMED, ids=lambda c: "/".join(c))
def test_a_planted_creep_of_3_percent_a_night_over_8_nights_is_found(measured, case):
    found, flags, _ = measured["trials"]["creep"][case][PENALTY]
    assert found and all(p.direction == "worse" for p in found)
    nights = [int(p.commit[-2:]) for p in found]
    assert all(3 <= n <= 10 for n in nights), "inside the creep"
    assert flags and min(n for n, _ in flags) <= 8


def test_docs_gate_prints_what_the_command_prints_now(measured):
    text = noise.markdown(RUNS, measured)
    assert text in (ROOT / "docs" / "gate.md").read_text(), "re-run the command of docs/gate.md, section History"


def test_the_markdown_states_each_plant_and_the_night_it_was_first_flagged(measured):
    text = noise.markdown(RUNS, measured)
    assert "**0**; nights on which `history show` exits 1: **none**" in text
    assert "| 1.3x from night 6 | blocks/vgg | night 6 `9c2d954-night06` worse" in text
    assert "3% a night from night 3 over 8 nights (1.267x at the end)" in text


def tonight(tmp_path, *, factor=1.0):
    """Run 1's records as tonight's run at a new commit, finished now; times scaled by ``factor``."""
    folder = tmp_path / "tonight"
    for path in RUNS[0].rglob("*.json"):
        raw = asdict(read_record(path))
        raw["git_commit"] = "f" * 40
        raw["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        raw["timing"]["rounds_s"] = [r * factor for r in raw["timing"]["rounds_s"]]
        target = folder / path.relative_to(RUNS[0])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(raw))
    return folder


def nightly(tmp_path, runs, tonight_folder=None, plant=()):
    """The history part of ``tox -e nightly``: the committed history, tonight appended, then show."""
    store = tmp_path / "history.sqlite"
    assert main(["history", "noise", *map(str, runs), "--store", str(store), *plant]) == 0
    if tonight_folder is not None:
        assert main(["history", "add", str(store), str(tonight_folder)]) == 0
    out = tmp_path / "history"
    code = main(["history", "show", str(store), "--out", str(out), "--json", str(tmp_path / "cp.json")])
    return code, json.loads((tmp_path / "cp.json").read_text())


def test_the_nightly_passes_on_the_committed_history_with_a_normal_night(tmp_path):
    code, found = nightly(tmp_path, RUNS, tonight(tmp_path))
    assert code == 0 and found["change_points"] == []
    assert found["newest_run"]["commit"] == "f" * 40


def test_the_nightly_fails_the_night_a_planted_creep_is_first_flagged(tmp_path, measured):
    _, flags, _ = measured["trials"]["creep"][("blocks", "vgg")][PENALTY]
    first = min(n for n, _ in flags)
    code, found = nightly(tmp_path / "a", RUNS[:first], plant=("--plant", "creep", "--case", "blocks/vgg"))
    assert code == 1
    (worse,) = [p for p in found["change_points"] if p["new"]]
    assert (worse["case_id"], worse["direction"]) == ("vgg", "worse")
    code, _ = nightly(tmp_path / "b", RUNS[: first - 1], plant=("--plant", "creep", "--case", "blocks/vgg"))
    assert code == 0, "the night before, nothing yet"


def test_the_nightly_fails_when_tonight_is_much_slower(tmp_path):
    code, found = nightly(tmp_path, RUNS, tonight(tmp_path, factor=1.5))
    assert code == 1
    assert {p["commit"] for p in found["change_points"] if p["new"]} == {"f" * 40}


def test_noise_bad_input_is_exit_2(tmp_path, capsys):
    assert main(["history", "noise", str(tmp_path / "missing"), str(RUNS[0])]) == 2
    assert "not a results directory" in capsys.readouterr().err
    assert main(["history", "noise", *map(str, RUNS[:3])]) == 2
    assert "at least four runs" in capsys.readouterr().err
    store = tmp_path / "s.sqlite"
    assert (
        main(["history", "noise", *map(str, RUNS[:4]), "--store", str(store), "--plant", "step", "--case", "x/y"]) == 2
    )
    assert "no such case" in capsys.readouterr().err
    assert not store.exists()
