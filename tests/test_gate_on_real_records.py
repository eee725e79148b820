"""The regression gate on shipped records of real runs, with regressions planted into a copy.

Times: runs 1 and 2 of the one-thread noise study (docs/gate.md), the same commit in two
processes. Accuracy spread: the CPU smoke run's three seeds of (2)+ResNet-18, write-up 001.
"""

import json
import shutil
from pathlib import Path

import pytest

from fakes import scaled_times
from reports.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
NOISE_RUNS = ROOT / "runs/gate-noise/avx512-1thread"
SMOKE = ROOT / "runs/cpu-smoke/records/sbh"
STEADY_CASE = "d012-arch4-1-resnet18"  # its time moved at most 1.07x between the study's processes


def edit(directory: Path, change, case_id: str | None = None) -> None:
    for path in directory.rglob("*.json"):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and (case_id is None or record.get("case_id") == case_id):
            change(record)
            path.write_text(json.dumps(record))


def verdicts(baseline: Path, current: Path, tmp_path: Path) -> tuple[int, list[dict]]:
    out = tmp_path / "verdicts.json"
    code = main(["compare", str(baseline), str(current), "--out", str(tmp_path / "diff.md"), "--json", str(out)])
    return code, json.loads(out.read_text())


def flagged(rows: list[dict]) -> set[tuple[str, str]]:
    return {(row["case_id"], row["kind"]) for row in rows if row["verdict"] == "REGRESSION"}


@pytest.fixture
def current(tmp_path):
    """A copy of run 2, to plant into."""
    copy = tmp_path / "current"
    shutil.copytree(NOISE_RUNS / "run02", copy)
    return copy


def test_two_same_commit_runs_pass(current, tmp_path):
    code, rows = verdicts(NOISE_RUNS / "run01", current, tmp_path)
    assert code == 0 and not flagged(rows)
    assert {row["kind"] for row in rows if row["metric"] == "inference_s"} == {"ok"}


def test_one_case_half_again_slower_is_flagged(current, tmp_path):
    edit(current, lambda r: r["timing"].update(rounds_s=[t * 1.5 for t in r["timing"]["rounds_s"]]), STEADY_CASE)
    code, rows = verdicts(NOISE_RUNS / "run01", current, tmp_path)
    assert code == 1 and flagged(rows) == {(STEADY_CASE, "time")}


def test_every_time_one_point_six_times_slower_probe_included_is_not_flagged(current, tmp_path):
    edit(current, lambda r: r.update(scaled_times(r, 1.6)))
    code, rows = verdicts(NOISE_RUNS / "run01", current, tmp_path)
    assert code == 0 and not flagged(rows)


def test_another_machine_s_times_are_not_comparable(current, tmp_path):
    edit(current, lambda r: r["environment"].update(fingerprint="0123456789abcdef"))
    edit(current, lambda r: r["timing"].update(rounds_s=[t * 3 for t in r["timing"]["rounds_s"]]))
    code, rows = verdicts(NOISE_RUNS / "run01", current, tmp_path)
    timed = [row for row in rows if row["metric"] in ("inference_s", "train_s")]
    assert code == 0 and timed and {row["kind"] for row in timed} == {"not_comparable"}


def test_an_accuracy_drop_of_five_points_is_flagged(current, tmp_path):
    edit(current, lambda r: r["metrics"].update(acc_all_heads=r["metrics"]["acc_all_heads"] - 0.05), STEADY_CASE)
    code, rows = verdicts(NOISE_RUNS / "run01", current, tmp_path)
    assert code == 1 and flagged(rows) == {(STEADY_CASE, "accuracy")}


def test_a_case_that_stopped_passing_is_flagged(current, tmp_path):
    edit(current, lambda r: r.update(status="failed", error="below threshold"), "vgg")
    code, rows = verdicts(NOISE_RUNS / "run01", current, tmp_path)
    assert code == 1 and ("vgg", "status") in flagged(rows)


def test_a_drop_inside_the_seed_spread_is_not_flagged_one_beyond_it_is(tmp_path):
    baseline, current = tmp_path / "baseline" / "sbh", tmp_path / "current" / "sbh"
    baseline.mkdir(parents=True)
    for path in SMOKE.glob("d012-arch2-resnet18-seed*.json"):
        shutil.copy(path, baseline)
    accs = [json.loads(p.read_text())["metrics"]["acc_all_heads"] for p in baseline.glob("*.json")]
    spread = max(accs) - min(accs)
    assert len(accs) == 3 and spread > 0.001
    shutil.copytree(baseline, current)

    def drop(by):
        shutil.rmtree(current)
        shutil.copytree(baseline, current)
        edit(current, lambda r: r["metrics"].update(acc_all_heads=r["metrics"]["acc_all_heads"] - by))
        return verdicts(baseline.parent, current.parent, tmp_path)

    code, rows = drop(spread / 2)
    assert code == 0 and not flagged(rows)
    code, rows = drop(spread * 3)
    assert code == 1 and flagged(rows) == {("d012-arch2-resnet18", "accuracy")}
