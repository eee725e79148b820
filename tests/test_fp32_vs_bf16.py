"""``python -m reports fp32-vs-bf16``: paired fp32/bf16 runs, and when a difference counts."""

import pytest

from fakes import fake_record, write_records
from reports.__main__ import main
from reports.fp32_vs_bf16 import compare, paired_runs
from studies import sbh

RESNET18 = [c for c in sbh.grid(sbh.WRITEUP001_DIGITS) if c.backbone == "resnet18"]
FP32_ACC = {0: 0.970, 1: 0.980, 2: 0.975}  # seed range 0.01


def _bf16(record):
    record.environment["precision"] = {"train": "bf16", "inference": "bf16", "why": "bf16 asked for"}
    return record


@pytest.fixture
def dirs(tmp_path):
    """Case 0 loses 0.05 in bf16 in every seed; the others move by 0.002, inside the seed range;
    seed 2 of the last case ran in fp32 only."""
    fp32, bf16 = tmp_path / "fp32", tmp_path / "bf16"
    write_records(fp32, [fake_record(c, acc=a, seconds=1.0, seed=s) for c in RESNET18 for s, a in FP32_ACC.items()])
    shifts = [-0.05, 0.002, -0.002, 0.002, -0.002]
    bf16_runs = [
        _bf16(fake_record(c, acc=a + shift + 0.001 * s, seconds=1.0, seed=s))
        for c, shift in zip(RESNET18, shifts, strict=True)
        for s, a in FP32_ACC.items()
        if not (c is RESNET18[-1] and s == 2)
    ]
    write_records(bf16, bf16_runs)
    return fp32, bf16


def test_only_cells_both_precisions_ran_are_paired(dirs):
    runs = paired_runs([dirs[0]], [dirs[1]], "sbh", "acc_all_heads")
    assert len(runs) == 5 * 3 - 1
    assert set(runs[runs["case_id"] == RESNET18[-1].id]["seed"]) == {0, 1}


def test_a_drop_beyond_the_seed_spread_is_named_and_a_small_one_is_a_tie(dirs):
    table = compare(paired_runs([dirs[0]], [dirs[1]], "sbh", "acc_all_heads")).set_index("")
    assert table.loc[RESNET18[0].id, "verdict"] == "bf16 lower"
    assert table.loc[RESNET18[0].id, "bf16 - fp32"] == pytest.approx(-0.049)
    assert (table.loc[[c.id for c in RESNET18[1:]], "verdict"] == "tie (within noise)").all()
    group = table.loc["**writeup001/resnet18** (all cases)"]
    # the wider of the two sides: bf16 adds 0.001 per seed to the fp32 range of 0.01
    assert group["cells"] == 14 and group["seed spread"] == pytest.approx(0.011)


def test_a_directory_of_the_wrong_precision_is_a_one_line_error(dirs, capsys):
    with pytest.raises(SystemExit, match="should hold fp32 records only, holds bf16"):
        main(["fp32-vs-bf16", str(dirs[1]), str(dirs[1]), "--study", "sbh", "--metric", "acc_all_heads"])
    assert (
        main(["fp32-vs-bf16", str(dirs[0]), str(dirs[0] / "missing"), "--study", "sbh", "--metric", "acc_all_heads"])
        == 2
    )
    assert "is not a results directory" in capsys.readouterr().err


def test_calibration_refuses_to_pool_precisions(dirs):
    # Where directories overlap, one record per (case, seed) is kept (the newer; here the later
    # directory's): fp32 keeps only the cell bf16 lacks.
    from reports.calibration import group_thresholds

    with pytest.raises(SystemExit, match=r"writeup001/resnet18 in .* mixes precisions \(bf16: 14, fp32: 1\)"):
        group_thresholds([dirs[0], dirs[1]], "sbh", "acc_all_heads")


def test_calibration_accepts_groups_that_auto_ran_in_different_precisions(tmp_path):
    """auto may keep one model in fp32 and run another in bf16; each group is one precision."""
    from reports.calibration import group_thresholds

    resnet34 = [c for c in sbh.grid(sbh.WRITEUP001_DIGITS) if c.backbone == "resnet34"]
    write_records(
        tmp_path,
        [fake_record(c, acc=0.97, seconds=1.0) for c in RESNET18]
        + [_bf16(fake_record(c, acc=0.96, seconds=1.0)) for c in resnet34],
    )
    table = group_thresholds([tmp_path], "sbh", "acc_all_heads")
    assert set(table.index) == {"writeup001/resnet18", "writeup001/resnet34"}
