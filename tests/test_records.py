import json

import pytest
import torch

from harness.errors import CaseFailed, CaseSkipped, DataError, Diverged
from harness.judge import judge, judge_seeds
from harness.records import SCHEMA_VERSION, RecordError, ResultRecord, read_record
from harness.runner import check_passed, recorded


def make_record(**overrides):
    base = {
        "study": "sbh",
        "case_id": "d012-arch2-resnet18",
        "params": {"structure": "arch2"},
        "profile": "smoke",
        "seed": 0,
        "device": "cpu",
    }
    return ResultRecord(**{**base, **overrides})


def test_record_round_trip(tmp_path):
    record = make_record(status="passed", metrics={"acc_all_heads": 0.99})
    path = record.write(tmp_path)
    assert path == tmp_path / "sbh" / "d012-arch2-resnet18-seed0.json"
    back = read_record(path)
    assert back.metrics == {"acc_all_heads": 0.99} and back.schema_version == SCHEMA_VERSION
    assert back.finished_at is not None
    assert [p.name for p in (tmp_path / "sbh").iterdir()] == ["d012-arch2-resnet18-seed0.json"]


def test_unknown_status_is_refused(tmp_path):
    with pytest.raises(ValueError, match="status 'ok'"):
        make_record(status="ok").write(tmp_path)
    assert not (tmp_path / "sbh").exists() or not list((tmp_path / "sbh").iterdir())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"a": 1}', "no schema_version"),
        (json.dumps({"schema_version": 0}), "schema version 0"),
        (json.dumps({"schema_version": SCHEMA_VERSION, "study": "sbh"}), "missing fields case_id"),
    ],
)
def test_bad_record_files_are_named(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(RecordError, match=message):
        read_record(path)


def test_judge_applies_every_threshold_as_a_minimum():
    record = make_record(thresholds={"acc_all_heads": 0.9}, metrics={"acc_all_heads": 0.95})
    judge(record)
    assert record.status == "passed" and record.error is None
    record.metrics["acc_all_heads"] = 0.5
    judge(record)
    assert record.status == "failed" and "acc_all_heads 0.5000 < 0.9000" in record.error
    record.metrics.clear()
    judge(record)
    assert record.status == "failed", "a missing metric never passes"


@pytest.mark.parametrize(
    ("exc", "status", "text"),
    [
        (Diverged("loss became nan in epoch 1 at or before step 3/10"), "diverged", "epoch 1"),
        (torch.OutOfMemoryError("CUDA out of memory"), "oom", "batch size 64"),
        (DataError("x is corrupt"), "error", "x is corrupt"),
        (RuntimeError("boom"), "error", "RuntimeError: boom"),
    ],
)
def test_recorded_writes_the_record_whatever_happens(tmp_path, exc, status, text):
    record = make_record(budget={"batch_size": 64})
    with recorded(record, tmp_path):
        raise exc
    back = read_record(record.path_in(tmp_path))
    assert back.status == status and text in back.error
    with pytest.raises(CaseFailed, match=f"\\[{status}\\]"):
        check_passed(back)


def test_recorded_lets_an_interrupt_through_without_a_record(tmp_path):
    record = make_record()
    with pytest.raises(KeyboardInterrupt), recorded(record, tmp_path):
        raise KeyboardInterrupt
    assert not record.path_in(tmp_path).exists()


def test_failed_threshold_still_leaves_a_record(tmp_path):
    record = make_record(thresholds={"acc_all_heads": 0.9}, metrics={"acc_all_heads": 0.3})
    with recorded(record, tmp_path):
        judge(record)
    assert read_record(record.path_in(tmp_path)).status == "failed"


def test_skip_done_skips_only_complete_records_of_this_profile_and_seed(tmp_path):
    from harness.context import RunContext
    from harness.runner import skip_if_done

    ctx = RunContext(
        profile="smoke", device=torch.device("cpu"), data_root=tmp_path, results_dir=tmp_path, skip_done=True
    )
    skip_if_done(ctx, "sbh", "d012-arch2-resnet18")  # no record: runs
    make_record(status="error", error="x").write(tmp_path)
    skip_if_done(ctx, "sbh", "d012-arch2-resnet18")  # errored: runs again
    make_record(status="passed", profile="full").write(tmp_path)
    skip_if_done(ctx, "sbh", "d012-arch2-resnet18")  # other profile: runs
    make_record(status="failed").write(tmp_path)
    with pytest.raises(CaseSkipped, match=r"--skip-done: .* holds a failed record"):
        skip_if_done(ctx, "sbh", "d012-arch2-resnet18")
    ctx.skip_done = False
    skip_if_done(ctx, "sbh", "d012-arch2-resnet18")


def test_schema_1_records_stay_readable(tmp_path):
    path = make_record(status="passed", metrics={"acc_all_heads": 0.99}, schema_version=1).write(tmp_path)
    assert read_record(path).schema_version == 1


def test_recorded_times_the_probe_before_and_after_the_case(tmp_path):
    record = make_record()
    with recorded(record, tmp_path):
        record.status = "passed"
    probe = read_record(record.path_in(tmp_path)).environment["probe"]
    assert set(probe) == {"before", "after"}
    assert all(k.endswith("_s") and 0 < v < 10 for side in probe.values() for k, v in side.items())


def _gated(seed, acc, status="passed"):
    record = make_record(seed=seed, status=status, metrics={"acc_all_heads": acc})
    record.seed_gate = {"metric": "acc_all_heads", "bar": 0.9, "need": 2, "of": 3}
    return record


@pytest.mark.parametrize(
    ("accs", "verdict"),
    [
        ((0.97, 0.34, 0.35), "fail"),  # one seed of three converged
        ((0.97, 0.34, 0.96), "pass"),  # two of three
    ],
)
def test_an_unstable_group_is_judged_by_the_record_that_completes_its_seeds(tmp_path, accs, verdict):
    for seed, acc in enumerate(accs[:2]):
        record = _gated(seed, acc)
        judge(record)
        judge_seeds(record, tmp_path)
        assert record.status == "passed", "one seed at chance is no verdict on its own"
        assert "verdict" not in record.seed_gate
        record.write(tmp_path)
    last = _gated(2, accs[2])
    judge(last)
    judge_seeds(last, tmp_path)
    assert last.seed_gate["verdict"] == verdict
    assert last.seed_gate["converged_seeds"] == [s for s, a in enumerate(accs) if a >= 0.9]
    if verdict == "fail":
        assert last.status == "failed" and "1 of seeds 0-2 reached acc_all_heads >= 0.90" in last.error
        with pytest.raises(CaseFailed, match="the group needs 2"):
            check_passed(last)
    else:
        assert last.status == "passed"


def test_a_seed_gate_without_all_its_seeds_or_with_a_diverged_one(tmp_path):
    lone = _gated(1, 0.3)
    judge(lone)
    judge_seeds(lone, tmp_path)
    assert lone.status == "passed" and "verdict" not in lone.seed_gate and lone.seed_gate["converged"] is False
    _gated(0, 0.97, status="passed").write(tmp_path)
    _gated(1, float("nan"), status="diverged").write(tmp_path)
    last = _gated(2, 0.33)
    judge(last)
    judge_seeds(last, tmp_path)
    assert last.status == "failed" and last.seed_gate["converged_seeds"] == [0]
