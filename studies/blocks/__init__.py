"""Study ``blocks``: small 10-class MNIST networks built from detector blocks (write-up 003).

The networks are the write-up author's, layer for layer (``models/blocks.py``): VGG,
Bottleneck, BottleneckCSP, SPPF and Transformer networks at base width 8, plus "exp3", the
CNN that the write-up's integrated-gradients heatmaps compare with the VGG network. Input:
MNIST 28x28, normalised as the author did (``Normalize(0.5, 0.5)``). A final case computes
the heatmaps from the trained weights. This module is the torch-free definition;
``studies/blocks/plan.py`` trains the cases and computes the heatmaps.

Profiles: ``writeup`` is the author's protocol (all 60,000 images, Adam 1e-3, the author's
batch sizes, cross-entropy on softmax outputs, 9 epochs: the 10th crashed in every run);
``smoke`` is a short CI budget with the usual cross-entropy on logits; ``full`` the author's
data and batches for 10 epochs on logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness import judge
from harness.settings import InputPrep, TimingRounds
from models import catalogue
from studies import thresholds
from studies.registry import Calibration, Study
from studies.writeups import rows, table

NAME = "blocks"
LR = 1e-3  # the author's training script: Adam, lr 1e-3, no scheduler
# ToTensor() + Normalize((0.5,), (0.5,)) on 28x28: pixels map to [-1, 1].
INPUT = InputPrep(mean=0.5, std=0.5)
(REFERENCE,) = catalogue.FAMILIES["reference"]  # the heatmap partner of write-up 003
# The catalogue's block networks (models/catalogue.py), in the write-up's order of sections.
NETWORKS = catalogue.FAMILIES["blocks"]
# The author's batch sizes (train and test; the transformer was cut to 50 for memory).
WRITEUP_BATCH = {"vgg": 200, "bottleneck": 200, "transformer": 50, "csp": 100, "sppf": 100, REFERENCE: 200}
# Parameter counts of the author's networks as built (seeds/reference/003/README.md).
WRITEUP_PARAMS = {
    "vgg": 12_050,
    "bottleneck": 33_494,
    "transformer": 64_042,
    "csp": 33_514,
    "sppf": 64_314,
    REFERENCE: 38_690,
}
HEATMAP_ID = "heatmaps"


def writeup_results() -> dict[str, dict]:
    """Write-up 003's summary table (its losses are cross-entropy applied to softmax outputs, hence ~1.47)."""
    return table("003_summary", "network")


# The course notebook's test accuracy of exp3 (exp3_integrated_gradients.py); write-up 003's
# table has the five block networks only.
REFERENCE_TEST_ACC = 0.9907


def writeup_result_bars() -> dict[str, dict[str, float]]:
    """The bar of a profile whose runs do not exist yet (full: 10 epochs on logits, GPU): the
    write-up's own test accuracy per network minus the judge's margin, floored to 0.01."""
    results = {network: float(row["test_acc"]) for network, row in writeup_results().items()}
    results[REFERENCE] = REFERENCE_TEST_ACC
    return {network: {"test_acc": judge.bar(results[network])} for network in (*NETWORKS, REFERENCE)}


def writeup_curves() -> dict[str, dict[int, float]]:
    """Test accuracy after each epoch of the author's runs: {network: {epoch: test_acc}}."""
    curves: dict[str, dict[int, float]] = {}
    for row in rows("003_per_epoch_test_acc"):
        curves.setdefault(row["network"], {})[int(row["epoch"])] = float(row["test_acc"])
    return curves


@dataclass(frozen=True)
class BlocksSettings:
    epochs: int
    train_images: int | None  # seeded random subset of the 60k training images; None = all
    timing: TimingRounds
    thresholds: dict = field(default_factory=dict)  # network -> {metric: minimum}
    # The author's loss: CrossEntropyLoss on the network's Softmax output (losses near 1.47).
    softmax_before_loss: bool = False
    # Per-network caps that replace ``train_images`` (the transformer attends over 784 tokens:
    # one smoke epoch on 20,000 images takes about 190 s on a 2-core CPU).
    train_images_for: dict = field(default_factory=dict)
    precision: str = "auto"  # when --precision is auto (the author's protocol ran fp32)

    def images_for(self, network: str) -> int | None:
        return self.train_images_for.get(network, self.train_images)


# Bars: studies/blocks/thresholds.json, written by `python -m reports calibrate --write blocks` from
# seeds 0-2 of ours (smoke, writeup) and the write-up's results (full); docs/thresholds.md.
PROFILES = {
    "smoke": BlocksSettings(
        epochs=1,
        train_images=20_000,
        timing=TimingRounds(5, 0),  # five: see the sbh smoke profile
        thresholds=thresholds.minimums(NAME, "smoke"),
        train_images_for={"transformer": 5_000},
    ),
    "writeup": BlocksSettings(
        epochs=9,
        train_images=None,
        timing=TimingRounds(5, 0),  # five: see the sbh smoke profile
        thresholds=thresholds.minimums(NAME, "writeup"),
        softmax_before_loss=True,
        precision="fp32",
    ),
    "full": BlocksSettings(
        epochs=10, train_images=None, timing=TimingRounds(10, 2), thresholds=thresholds.minimums(NAME, "full")
    ),
}


@dataclass(frozen=True)
class BlocksCase:
    network: str

    @property
    def id(self) -> str:
        return self.network

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.network,)

    def params(self) -> dict:
        return {"network": self.network, "block": None if self.network == REFERENCE else self.network, "input": "28x28"}


def cases() -> list[BlocksCase]:
    return [BlocksCase(name) for name in (*NETWORKS, REFERENCE)]


STUDY = Study(
    name=NAME,
    title="Small MNIST networks from detector blocks (write-up 003)",
    writeups=("003",),
    description="small MNIST networks built from detector blocks (write-up 003)",
    cases=cases,
    profiles=PROFILES,
    report="reports.blocks",
    calibrations=(
        Calibration("smoke", "test_acc", records=("runs/cpu-smoke/records",)),
        Calibration("writeup", "test_acc", records=("runs/cpu-writeup/records",)),
        Calibration("full", writeup=lambda: (writeup_result_bars(), {})),
    ),
)
