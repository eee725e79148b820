"""Study ``emnist`` (write-up 004): model selection on EMNIST Balanced, 47 classes.

Cases: the data itself (class counts, split sizes, one sample per class), LeNet-5 old and
new, the ResNet-50 tuning ladder (each step adds one change to the step before), and the
candidate models. Every case trains on the seeded 94,000-image split, watches the 18,800
validation images per epoch, and is scored once on the 18,800 test images (top-1, top-5,
loss), with the test predictions stored for paired tests between models.

EMNIST has no offline source: without its files every case skips with the reason. This
module is the torch-free definition; ``studies/emnist/plan.py`` trains the cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from harness.settings import InputPrep, TimingRounds
from studies.registry import Study
from studies.writeups import table

NAME = "emnist"
NUM_CLASSES = 47  # EMNIST Balanced
# The IDX files the study reads from <data root>/EMNIST/raw (harness/emnist.py loads them).
DATA_FILES = tuple(
    f"emnist-balanced-{part}-{kind}-ubyte" for part in ("train", "test") for kind in ("images-idx3", "labels-idx1")
)
# 112,800 training images split 94,000 / 18,800 (seeded); EMNIST Balanced's own 18,800 test images.
SPLIT_SIZES = {"train": 94_000, "valid": 18_800, "test": 18_800}
DATA_ID = "data"
# EMNIST Balanced pixel statistics (train split), for normalising like the MNIST cases do.
EMNIST_MEAN, EMNIST_STD = 0.1751, 0.3332
RESIZE = InputPrep(resize=32, mean=EMNIST_MEAN, std=EMNIST_STD)
PAD = InputPrep(pad=2, mean=EMNIST_MEAN, std=EMNIST_STD)
# The write-up does not say which augmentation it used; random shifts of up to 2 px (7 %) are the
# usual choice for handwriting and cost nothing on the device.
AUGMENT_SHIFT = 2
# Nor its dropout rate: 0.5 before the classifier, Keras's customary value.
DROPOUT = 0.5
LATENCY_RUNS = 30


@dataclass(frozen=True)
class EmnistCase:
    id: str
    model: str
    group: str  # "lenet", "ladder" or "candidate"
    batch_size: int = 256
    lr: float = 1e-3
    plateau: bool = False
    prep: InputPrep = RESIZE
    build: dict = field(default_factory=dict)
    change: str = ""  # what this ladder step adds to the one before

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.model,)

    def params(self) -> dict:
        return {
            "model": self.model,
            "group": self.group,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "plateau": self.plateau,
            "input": "zero-pad 28->32" if self.prep.pad else f"resize 28->{self.prep.resize}",
            "shift": self.prep.shift,
            "build": dict(self.build),
            "change": self.change,
        }


def _ladder() -> list[EmnistCase]:
    """Each step is the previous case with one change, as write-up 004 tuned ResNet-50."""
    steps = [
        EmnistCase("resnet50-b256", "resnet50-cls", "ladder", change="default: batch 256, Adam 1e-3, resize to 32x32")
    ]
    changes = [
        ("resnet50-b2048", "batch 2048", {"batch_size": 2048}),
        ("resnet50-plateau", "initial lr 5e-4 + ReduceLROnPlateau", {"lr": 5e-4, "plateau": True}),
        ("resnet50-leaky", "LeakyReLU instead of ReLU", {"build": {"activation": "leaky"}}),
        (
            "resnet50-dropout",
            f"dropout {DROPOUT} before the classifier",
            {"build": {"activation": "leaky", "dropout": DROPOUT}},
        ),
        (
            "resnet50-augment",
            f"augmentation: random shifts up to {AUGMENT_SHIFT} px",
            {"prep": replace(RESIZE, shift=AUGMENT_SHIFT)},
        ),
        ("resnet50-pad", "zero-padding 28->32 instead of resizing", {"prep": replace(PAD, shift=AUGMENT_SHIFT)}),
    ]
    for case_id, change, diff in changes:
        steps.append(replace(steps[-1], id=case_id, change=change, **diff))
    return steps


LENET = [
    EmnistCase(
        "lenet5-old",
        "lenet5-old",
        "lenet",
        prep=PAD,
        change="scaled tanh, trainable subsampling, partial C3, RBF output",
    ),
    EmnistCase("lenet5-new", "lenet5-new", "lenet", prep=PAD, change="ReLU, max-pool, linear + softmax"),
]
LADDER = _ladder()
# The candidates train with the ladder's recipe up to the plateau step (lr 5e-4, plateau, batch 256).
CANDIDATES = [
    EmnistCase(name, name, "candidate", lr=5e-4, plateau=True, prep=PAD)
    for name in ("vgg16-bn", "mobilenet-v2", "shufflenet-v2")
]
# LeNet-5-new is the fourth candidate; its case above serves both tables.
CANDIDATE_IDS = ["lenet5-new", *(c.id for c in CANDIDATES)]


def writeup_results() -> dict[str, dict]:
    """Write-up 004's reported test accuracy and seconds per epoch on its GPU, per case."""
    return table("004_results", "case")


@dataclass(frozen=True)
class EmnistSettings:
    epochs: dict  # case group (or case id) -> epochs
    train_images: int | None  # cap on the 94,000 (seeded, first N of the shuffled split); None = all
    timing: TimingRounds
    thresholds: dict  # {metric: minimum} for every training case
    threshold_source: str


# No EMNIST copy is reachable where this suite was built, so no run of ours could set these.
# Full: 10 points under the lowest test accuracy write-up 004 reported for a non-degenerate step
# (LeNet-5-old, 0.861), so that every configuration write-up 004 trained clears it. Smoke: 0.3, a
# floor 14x above chance (1/47) that an untrained network cannot reach. Replace both with
# calibrated values (docs/thresholds.md) once runs exist.
PROFILES = {
    "smoke": EmnistSettings(
        {"lenet": 2, "ladder": 1, "candidate": 1},
        18_800,
        TimingRounds(5, 0),  # five: see the sbh smoke profile
        {"test_acc": 0.3},
        "floor (not calibrated: no EMNIST runs yet)",
    ),
    "full": EmnistSettings(
        {"lenet": 50, "ladder": 50, "resnet50-augment": 80, "resnet50-pad": 80, "candidate": 50},
        None,
        TimingRounds(10, 2),
        {"test_acc": 0.76},
        "write-up 004's reported runs (not calibrated on ours)",
    ),
    # Test-only (--emnist-tiny): the small IDX fixture stands in for the data.
    "tiny": EmnistSettings(
        {"lenet": 1, "ladder": 1, "candidate": 1},
        None,
        TimingRounds(1, 0),
        {"test_acc": 0.0},
        "none: pipeline test on a fixture",
    ),
}


def cases() -> list[EmnistCase]:
    return [*LENET, *LADDER, *CANDIDATES]


def epochs_for(case: EmnistCase, settings: EmnistSettings) -> int:
    return settings.epochs.get(case.id, settings.epochs[case.group])


STUDY = Study(
    name=NAME,
    title="Model selection on EMNIST Balanced (write-up 004)",
    writeups=("004",),
    description="EMNIST Balanced model selection (write-up 004); skips without the EMNIST files",
    cases=cases,
    profiles=PROFILES,
    report="reports.emnist",
)
