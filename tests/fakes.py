"""Result records with chosen numbers, for tests of the reporter and the comparison."""

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from harness import emnist
from harness.idx import encode_idx
from harness.records import ResultRecord
from harness.runner import run
from harness.training import training_job
from studies import sbh


def run_training(plan, ctx, benchmark=None):
    """A training case through the one runner, as benchmarks/ runs it."""
    return run(training_job(plan, ctx, benchmark), ctx)


# Five timed rounds around the median, as a smoke case records them.
ROUND_SHAPE = (0.98, 1.0, 1.01, 0.99, 1.02)
FINGERPRINT = "0123456789abcdef"


def fake_record(
    case, *, acc, seconds, status="passed", finished="2026-01-01T00:00:00+00:00", seed=0, host=1.0, schema=2
):
    """A schema-2 sbh record; ``host`` scales the probe (2.0: the host ran twice as slow)."""
    split = not sbh.STRUCTURES[case.structure].shared_head
    metrics = {
        "acc_all_heads": acc,
        "acc_mean_heads": acc + (0.002 if split else 0),
        "test_loss": 0.05,
        "train_s": 10.0,
        "inference_s": seconds,
        "latency_b32_s": seconds / 100,
    }
    metrics.update({"acc_head_a": acc + 0.001, "acc_head_b": acc + 0.003} if split else {"acc_head_abc": acc})
    record = ResultRecord(
        study="sbh",
        case_id=case.id,
        params={**case.params(), "threshold_group": case.group},
        profile="smoke",
        seed=seed,
        device="cpu",
        status=status,
        error=None if status == "passed" else "below threshold",
        thresholds=case.thresholds(sbh.PROFILES["smoke"])[0],
        metrics=metrics,
        model={"params": 1000, "flops_per_image": 2e6},
        environment={"cpu": "Test CPU", "gpu": None, "torch": "2.x", "torchvision": "0.x"},
        timing={"median_s": seconds, "rounds": len(ROUND_SHAPE)},
        git_commit="abc123",
        started_at="2026-01-01T00:00:00+00:00",
    )
    record.finished_at = finished
    if schema >= 2:
        record.timing["rounds_s"] = [seconds * f * (1 + 0.003 * seed) for f in ROUND_SHAPE]
        probe = {"matmul_s": 0.02 * host, "conv_forward_s": 0.03 * host}
        record.environment.update(fingerprint=FINGERPRINT, probe={"before": probe, "after": dict(probe)})
    record.schema_version = schema
    return record


def write_records(directory: Path, records):
    for record in records:
        path = record.path_in(directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(record)))


def write_emnist(root, n_train=12, n_test=6):
    """Upright images with a known asymmetric mark, stored transposed as EMNIST stores them."""
    raw = emnist.raw_dir(root)
    raw.mkdir(parents=True)
    upright = {}
    for part, n in (("train", n_train), ("test", n_test)):
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 2, 5:20] = 255  # a horizontal bar near the top: upright, it stays in row 2
        images[np.arange(n), 10, np.arange(n) % 28] = np.arange(n) % 255 + 1  # a per-image tag
        upright[part] = images
        (raw / f"emnist-balanced-{part}-images-idx3-ubyte").write_bytes(
            encode_idx(np.ascontiguousarray(images.transpose(0, 2, 1)))
        )
        (raw / f"emnist-balanced-{part}-labels-idx1-ubyte").write_bytes(
            encode_idx((np.arange(n) % emnist.NUM_CLASSES).astype(np.uint8))
        )
    return upright


def scaled_times(node, factor):
    """Every ``*_s`` value times ``factor``, every ``*_per_s`` divided by it: the contract's uniformly slower host."""
    if isinstance(node, dict):
        return {key: _scaled_value(key, value, factor) for key, value in node.items()}
    if isinstance(node, list):
        return [scaled_times(item, factor) for item in node]
    return node


def _scaled_value(key, value, factor):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key.endswith("_per_s") and number:
        return value / factor
    if key.endswith("_s") and number:
        return value * factor
    if key.endswith("_s") and isinstance(value, list):
        return [t * factor for t in value]
    return scaled_times(value, factor)


def fake_speed_record(case_id, seconds, *, rounds=25, batch=None, seed=0, finished="2026-01-01T00:00:00+00:00"):
    """A side-by-side record (study ``speed``): ``seconds`` {network: {phase: median seconds}},
    every round jittered by the same seeded factor for all networks (a host speeding up and
    slowing down) and by a small independent one per network."""
    rng = np.random.default_rng(seed)
    host = 1 + 0.05 * rng.standard_normal(rounds)
    networks = {}
    for name, phases in seconds.items():
        networks[name] = {
            "model": name.split("-")[0],
            "build": {},
            "batch": (batch or {}).get(name, 32),
            "params": 1000,
            "flops_per_image": 2e6,
            "peak_memory_bytes": 2**20 * (batch or {}).get(name, 32),
            "rounds_s": {
                phase: list(s * host * (1 + 0.005 * rng.standard_normal(rounds))) for phase, s in phases.items()
            },
        }
    record = ResultRecord(
        study="speed",
        case_id=case_id,
        params={"group": case_id},
        profile="smoke",
        seed=seed,
        device="cpu",
        status="passed",
        metrics={"round_s": 1.0, "networks": len(networks)},
        environment={
            "cpu": "Test CPU",
            "torch_threads": 1,
            "fingerprint": FINGERPRINT,
            "precision": {"train": "fp32", "inference": "fp32", "why": "test"},
        },
        side_by_side={
            "writeup": case_id.removeprefix("writeup"),
            "unit": "test",
            "phases": sorted({p for phases in seconds.values() for p in phases}),
            "rounds": rounds,
            "warmup_rounds": 1,
            "order": "test",
            "attention_path": None,
            "networks": networks,
        },
        git_commit="abc123",
        started_at="2026-01-01T00:00:00+00:00",
    )
    record.finished_at = finished
    return record


def writeup001_speed(split_factor=2.0, backbone_seconds=None, **kwargs):
    """Write-up 001's 15 networks side by side: split backbones ``split_factor`` slower."""
    base = backbone_seconds or {"resnet18": 0.03, "resnet34": 0.055, "resnet50": 0.09}
    return fake_speed_record(
        "writeup001",
        {
            f"{s}-{b}": {"inference": t * (1 if sbh.STRUCTURES[s].shared_backbone else split_factor)}
            for b, t in base.items()
            for s in sbh.STRUCTURES
        },
        **kwargs,
    )


def writeup003_speed(transformer_factor=10.0, **kwargs):
    """Write-up 003's five networks side by side at the author's batches: the transformer
    ``transformer_factor`` slower per image, and the most memory (50 MiB against 10)."""
    batches = {"vgg": 200, "bottleneck": 200, "transformer": 50, "csp": 100, "sppf": 100}
    per_image = {"vgg": 1e-4, "bottleneck": 2e-4, "csp": 2e-4, "sppf": 3e-4, "transformer": 3e-4 * transformer_factor}
    record = fake_speed_record(
        "writeup003",
        {n: {"train_step": t * batches[n], "inference": t * batches[n] / 3} for n, t in per_image.items()},
        batch=batches,
        **kwargs,
    )
    for name, network in record.side_by_side["networks"].items():
        network["peak_memory_bytes"] = (50 if name == "transformer" else 10) * 2**20
    record.side_by_side["attention_path"] = "author's attention path (test)"
    return record
