"""Result records with chosen numbers, for tests of the reporter and the comparison."""
import json
from dataclasses import asdict
from pathlib import Path

import models
from harness.records import ResultRecord


def fake_record(case, *, acc, seconds, status="passed", finished="2026-01-01T00:00:00+00:00", seed=0):
    split = not models.sbh.STRUCTURES[case.structure].shared_head
    metrics = {"acc_all_heads": acc, "acc_mean_heads": acc + (0.002 if split else 0), "test_loss": 0.05, "train_s": 10.0, "inference_s": seconds}
    metrics.update({"acc_head_a": acc + 0.001, "acc_head_b": acc + 0.003} if split else {"acc_head_abc": acc})
    record = ResultRecord(
        study="sbh", case_id=case.id, params=case.params(), profile="smoke", seed=seed, device="cpu", status=status,
        error=None if status == "passed" else "below threshold", thresholds={"acc_all_heads": 0.9}, metrics=metrics,
        model={"params": 1000, "flops_per_image": 2e6}, environment={"cpu": "Test CPU", "gpu": None, "torch": "2.x", "torchvision": "0.x"},
        git_commit="abc123", started_at="2026-01-01T00:00:00+00:00",
    )
    record.finished_at = finished
    return record


def write_records(directory: Path, records):
    for record in records:
        path = record.path_in(directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(record)))
