"""``python -m reports calibrate --groups``: the documented threshold rule, and seed gates for
groups whose runs collapse to chance."""

from pathlib import Path

import pandas as pd
import pytest

from fakes import fake_record, write_records
from reports.calibration import group_thresholds
from studies import blocks, sbh

RESNET18 = [c for c in sbh.grid(sbh.WRITEUP001_DIGITS) if c.backbone == "resnet18"]
HIGH_RATE = [c for c in sbh.experiment_cases("lr") if c.backbone == "resnet18" and c.lr == 5e-3]


def test_a_stable_group_gets_its_lowest_run_minus_the_widest_seed_range(tmp_path):
    accs = {0: 0.990, 1: 0.984}  # seed ranges: 0.006 for every case
    write_records(
        tmp_path,
        [fake_record(c, acc=accs[s] - 0.01 * i, seconds=1.0, seed=s) for i, c in enumerate(RESNET18) for s in accs],
    )
    row = group_thresholds([tmp_path], "sbh", "acc_all_heads").loc["writeup001/resnet18"]
    assert row["rule"] == "minimum" and row["range from"] == "own seeds"
    assert row["seeds"] == 2 and row["fewest seeds of a case"] == 2
    assert row["lowest"] == pytest.approx(0.944) and row["widest range"] == pytest.approx(0.006)
    assert row["threshold"] == 0.93  # floor(0.944 - max(0.01, 0.006))


def test_a_group_half_way_through_its_seeds_says_so(tmp_path):
    records = [fake_record(c, acc=0.95, seconds=1.0, seed=0) for c in RESNET18]
    records += [fake_record(c, acc=0.95, seconds=1.0, seed=s) for c in RESNET18[:2] for s in (1, 2)]
    write_records(tmp_path, records)
    row = group_thresholds([tmp_path], "sbh", "acc_all_heads").loc["writeup001/resnet18"]
    assert row["seeds"] == 3 and row["fewest seeds of a case"] == 1
    waiting = group_thresholds([tmp_path], "sbh", "acc_all_heads", seeds=3).loc["writeup001/resnet18"]
    assert waiting["range from"] == "waiting: fewest seeds 1 of 3" and pd.isna(waiting["threshold"])


def test_a_group_with_collapsed_runs_gets_a_seed_gate_bar_from_its_converged_runs(tmp_path):
    accs = {0: [0.90, 0.35, 0.88, 0.86, 0.34], 1: [0.89, 0.87, 0.36, 0.85, 0.33]}
    records = [fake_record(c, acc=accs[s][i], seconds=1.0, seed=s) for i, c in enumerate(HIGH_RATE) for s in accs]
    write_records(tmp_path, records)
    row = group_thresholds([tmp_path], "sbh", "acc_all_heads").loc["lr/lr5e-3/resnet18"]
    assert row["collapsed"] == 4 and row["rule"].startswith("seed gate")
    # converged runs: lowest 0.85, widest seed range among converged pairs 0.01 (0.90/0.89, 0.86/0.85)
    assert row["lowest"] == pytest.approx(0.85) and row["widest range"] == pytest.approx(0.01)
    assert row["threshold"] == 0.84


def test_a_group_where_nothing_converged_gets_the_floor_as_its_bar(tmp_path):
    write_records(tmp_path, [fake_record(c, acc=0.34, seconds=1.0) for c in HIGH_RATE])
    row = group_thresholds([tmp_path], "sbh", "acc_all_heads").loc["lr/lr5e-3/resnet18"]
    assert row["range from"] == "no converged run" and row["threshold"] == 0.5


def test_no_bar_is_set_below_the_floor(tmp_path):
    accs = [0.95, 0.60, 0.93, 0.90, 0.94]  # range 0.35: the rule would give 0.25
    write_records(tmp_path, [fake_record(c, acc=a, seconds=1.0) for c, a in zip(HIGH_RATE, accs, strict=True)])
    row = group_thresholds([tmp_path], "sbh", "acc_all_heads").loc["lr/lr5e-3/resnet18"]
    assert row["rule"] == "minimum" and row["threshold"] == 0.5 and "the rule gave 0.25" in row["range from"]


def test_the_smoke_profile_asserts_what_the_shipped_three_seed_records_give():
    """A bar edited by hand, or records added without rerunning the calibration, fails here.
    ``auto`` runs bf16 on a CPU with native bf16 and fp32 elsewhere, so a group calibrated in
    both precisions asserts the lower of its two bars."""
    runs = Path(__file__).resolve().parents[1] / "runs"
    tables = [
        group_thresholds([runs / name / "records"], "sbh", "acc_all_heads", seeds=3)
        for name in ("cpu-smoke", "cpu-smoke-bf16")
    ]
    fp32, bf16 = (t["threshold"].dropna() for t in tables)
    assert len(fp32) >= 4 and len(bf16) >= 3
    expected = pd.concat([fp32, bf16]).groupby(level=0).min()
    smoke = sbh.PROFILES["smoke"]
    for group, threshold in expected.items():
        bar = smoke.seed_gates[group].bar if group in smoke.seed_gates else smoke.thresholds[group]["acc_all_heads"]
        assert bar == pytest.approx(threshold), group


def test_the_blocks_writeup_profile_asserts_what_its_shipped_records_give():
    """Write-up 003's protocol, seeds 0-2 per network (runs/cpu-writeup/records): every network
    whose three seeds are in asserts the rule's bar; each network is its own group."""
    records = Path(__file__).resolve().parents[1] / "runs" / "cpu-writeup" / "records"
    table = group_thresholds([records], "blocks", "test_acc", seeds=3)
    calibrated = table["threshold"].dropna()
    assert {"vgg", "bottleneck", "csp", "sppf"} <= set(calibrated.index)
    for network, threshold in calibrated.items():
        assert blocks.PROFILES["writeup"].thresholds[network]["test_acc"] == pytest.approx(threshold), network


def test_each_threshold_file_is_what_the_rule_gives_over_the_committed_records(capsys):
    """One source of the bars: studies/<study>/thresholds.json, recomputed here from the records
    and write-up results it names; a bar edited by hand or records added without `--write` fail."""
    import json

    from reports.__main__ import main
    from reports.calibration import as_json, study_thresholds
    from studies import thresholds

    for study in ("sbh", "blocks"):
        assert as_json(study_thresholds(study)) == thresholds.path(study).read_text(), study
    assert main(["calibrate", "--write", "sbh", "blocks", "--check"]) == 0
    assert sbh.PROFILES["smoke"].thresholds == thresholds.minimums("sbh", "smoke")
    assert blocks.PROFILES["writeup"].thresholds == thresholds.minimums("blocks", "writeup")
    edited = json.loads(thresholds.path("sbh").read_text())
    edited["profiles"]["smoke"]["minimums"]["writeup001/resnet18"]["acc_all_heads"] += 0.01
    assert as_json(edited) != as_json(study_thresholds("sbh")), "a hand-edited bar is told apart"
    assert main(["calibrate", "--write", "emnist"]) == 2
    assert "no calibrations" in capsys.readouterr().err
