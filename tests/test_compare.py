"""``python -m reports compare``: a planted regression is caught, seed-level noise is not."""

import json

import pytest

from fakes import fake_record, write_records
from reports.__main__ import main
from studies import sbh

CASES = sbh.grid(sbh.WRITEUP001_DIGITS)


@pytest.fixture
def baseline(tmp_path):
    """Two seeds per case; the widest seed-to-seed range of acc_all_heads is 0.006."""
    records = [
        fake_record(
            case, acc=0.98 + (0.006 if seed and case.structure == "arch1" else 0.002 * seed), seconds=1.0, seed=seed
        )
        for case in CASES
        for seed in (0, 1)
    ]
    write_records(tmp_path / "baseline", records)
    return tmp_path / "baseline"


def current_run(tmp_path, name="current", *, change=None):
    """The baseline's numbers, with ``change(case, seed, acc, seconds, status)`` applied."""
    records = []
    for case in CASES:
        for seed in (0, 1):
            acc, seconds, status = 0.98 + (0.006 if seed and case.structure == "arch1" else 0.002 * seed), 1.0, "passed"
            if change:
                acc, seconds, status = change(case, seed, acc, seconds, status)
            records.append(fake_record(case, acc=acc, seconds=seconds, seed=seed, status=status))
    write_records(tmp_path / name, records)
    return tmp_path / name


def compare(baseline, current, tmp_path, *extra):
    out = tmp_path / "diff.md"
    code = main(["compare", str(baseline), str(current), "--out", str(out), *extra])
    return code, out.read_text()


def test_a_run_compared_with_itself_passes(baseline, tmp_path):
    code, text = compare(baseline, baseline, tmp_path)
    assert code == 0 and "**0 regression(s)** in 15 compared case(s)" in text
    assert "tolerance 0.0060 (baseline seed spread)" in text


def test_an_accuracy_drop_beyond_the_seed_spread_is_caught(baseline, tmp_path, capsys):
    planted = current_run(
        tmp_path, change=lambda c, s, a, t, st: (a - 0.03 if c.id == "d012-arch3-resnet34" else a, t, st)
    )
    code, text = compare(baseline, planted, tmp_path)
    assert code == 1 and "**1 regression(s)**" in text
    assert "REGRESSION sbh/d012-arch3-resnet34 acc_all_heads" in capsys.readouterr().err


def test_a_noise_level_change_is_not_a_regression(baseline, tmp_path):
    noisy = current_run(tmp_path, change=lambda c, s, a, t, st: (a - 0.004, t * 1.08, st))
    code, text = compare(baseline, noisy, tmp_path)
    assert code == 0, text


def test_a_slowdown_beyond_the_time_tolerance_is_caught(baseline, tmp_path):
    slow = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 1.5 if c.backbone == "resnet50" else t, st))
    code, text = compare(baseline, slow, tmp_path)
    assert code == 1 and "**5 regression(s)**" in text and "+50.0%" in text


def test_timings_from_another_device_are_not_compared(baseline, tmp_path):
    slow = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 3, st))
    for path in slow.glob("sbh/*.json"):
        record = json.loads(path.read_text())
        record["environment"]["cpu"] = "Other CPU"
        path.write_text(json.dumps(record))
    code, text = compare(baseline, slow, tmp_path)
    assert code == 0 and "inference times not compared; the runs are on different devices" in text


def test_timings_in_another_precision_are_not_compared(baseline, tmp_path):
    """The baseline's records predate --precision (CPU: fp32); a bf16 run twice as fast and a
    bf16 run three times as slow are neither an improvement nor a regression."""
    other = current_run(tmp_path, change=lambda c, s, a, t, st: (a, t * 3 if c.backbone == "resnet50" else t / 2, st))
    for path in other.glob("sbh/*.json"):
        record = json.loads(path.read_text())
        record["environment"]["precision"] = {"train": "bf16", "inference": "bf16", "why": "bf16 asked for"}
        path.write_text(json.dumps(record))
    code, text = compare(baseline, other, tmp_path)
    assert code == 0 and "inference times of 15 case(s) not compared; they ran in another precision" in text
    assert "inference_s" not in text.split("## Every comparison")[1]
    assert compare(other, other, tmp_path)[0] == 0


def test_a_case_that_stopped_passing_is_a_regression(baseline, tmp_path):
    broken = current_run(
        tmp_path, change=lambda c, s, a, t, st: (a, t, "error" if c.id == "d012-arch2-resnet18" and s == 1 else st)
    )
    code, text = compare(baseline, broken, tmp_path)
    assert code == 1 and "| d012-arch2-resnet18 | status" in text.replace("  ", " ")


def test_an_explicit_tolerance_overrides_the_spread(baseline, tmp_path):
    planted = current_run(tmp_path, change=lambda c, s, a, t, st: (a - 0.03, t, st))
    assert compare(baseline, planted, tmp_path, "--acc-tolerance", "0.05")[0] == 0


def test_missing_or_empty_inputs_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), str(tmp_path / "empty")]) == 2
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "error: baseline: no result records" in err and "does not exist" in err


def test_drill_passes_on_real_looking_records_and_fails_when_the_gate_is_open(baseline, monkeypatch):
    from reports import compare as compare_module
    from reports import drill

    assert drill.main([str(baseline)]) == 0
    monkeypatch.setattr(compare_module, "DEFAULT_ACC_TOLERANCE", 1.0)
    monkeypatch.setattr(drill, "compare_main", lambda argv: compare_module.main([*argv, "--acc-tolerance", "1.0"]))
    assert drill.main([str(baseline)]) == 1, "a gate that lets a 0.05 drop through must fail the drill"
