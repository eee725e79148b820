"""Study ``sbh``: shared vs. split backbone and head on 3-digit MNIST tasks (write-ups 001, 000).

This module is the study's definition and imports no torch: the structures and backbones of
the grid, the experiments, the cases, the profiles (budgets and thresholds) and the CPU
default subset. ``studies/sbh/plan.py`` turns a case into a training plan.

Heads (write-up 001, Fig. 1): A answers {a,b} vs {c} ("0,1 vs. 2"), B answers {a,c} vs {b}
("0,2 vs. 1"); the pair decodes to exactly one class, and (A=c, B=b) decodes to none.
Experiments: write-up 001's grid on (0,1,2), experiments 1 and 2; write-up 000's grid on
five more combos, its train-size sweep and its learning-rate sweep, both on (6,8,9), with the
authors' sizes (prefixes of the 60k training set, filtered to the digits afterwards) and rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import studies.writeups as writeups
from harness import judge
from harness.settings import Budget, SeedGate, TimingRounds, lr_text
from models import catalogue
from studies import thresholds
from studies.registry import Calibration, Experiment, Study

NAME = "sbh"
BASE_LR = 1e-4
WRITEUP001_DIGITS = (0, 1, 2)
WRITEUP000_COMBOS = ((0, 3, 4), (0, 5, 6), (6, 8, 9), (0, 3, 8), (1, 7, 9))
# Write-up 000 ran both sweeps on its hardest combo.
SWEEP_DIGITS = (6, 8, 9)
# The authors' sizes: N is a prefix of the 60,000 training images, filtered to the digits
# afterwards (N = 400 leaves 110 images of 6, 8, 9; N = 4,000 leaves 1,175).
TRAIN_SIZES = (400, 800, 1200, 1600, 2000, 2400, 3200, 4000, 4800, 6000, 8000, 10000)
# Write-up 000's Fig. 14 averages the size curve over these ranges.
SIZE_BUCKETS = {
    "400-1.6K": (400, 800, 1200, 1600),
    "2.0K-4.0K": (2000, 2400, 3200, 4000),
    "4.8K-10.0K": (4800, 6000, 8000, 10000),
}
LR_SWEEP_TRAIN_SIZE = 4000
LEARNING_RATES = (
    1.5e-4, 2e-4, 3e-4, 4e-4, 5e-4, 7.5e-4, 1e-3, 1.25e-3, 1.5e-3, 2e-3, 2.5e-3, 3e-3, 3.5e-3, 4e-3, 4.5e-3, 5e-3,
)  # fmt: skip
# Write-up 000's Fig. 16 buckets.
LR_BUCKETS = {
    "1.5e-4-4e-4": (1.5e-4, 2e-4, 3e-4, 4e-4),
    "5e-4-1.25e-3": (5e-4, 7.5e-4, 1e-3, 1.25e-3),
    "1.5e-3-3e-3": (1.5e-3, 2e-3, 2.5e-3, 3e-3),
    "3.5e-3-5e-3": (3.5e-3, 4e-3, 4.5e-3, 5e-3),
}
# The CPU default run (smoke) beyond write-up 001's grid: ResNet-18 only, and in the sweeps the
# first value of each of the authors' buckets plus the sweep's last value (about an hour of
# CPU on two cores). Every other case stays collectable and runs when selected (marker
# ``sbh_extended``; ``tox -e bench`` deselects it by default).
CPU_DEFAULT_BACKBONES = ("resnet18",)
CPU_DEFAULT_SIZES = (*(b[0] for b in SIZE_BUCKETS.values()), TRAIN_SIZES[-1])
CPU_DEFAULT_RATES = (*(b[0] for b in LR_BUCKETS.values()), LEARNING_RATES[-1])
# Class groups of each head, as positions in the case's digits (a, b, c) = (0, 1, 2).
HEAD_GROUPS = {"abc": [[0], [1], [2]], "a": [[0, 1], [2]], "b": [[0, 2], [1]]}
# Write-up 001's two accuracies: experiment 1 = mean of the heads' accuracies, experiment 2 =
# all heads right. The authors trained each as a separate run, selecting the checkpoint by it.
SELECTION_METRIC = {"all_heads": "acc_all_heads", "mean_heads": "acc_mean_heads"}


@dataclass(frozen=True)
class StructureInfo:
    """A structure of write-up 001's figure 1, as the write-up defines it (models/sbh.py builds it)."""

    label: str  # the write-up's numbering
    shared_backbone: bool
    shared_head: bool
    heads: tuple[str, ...]
    description: str


# The catalogue's sbh names (models/catalogue.py), in the write-up's order, with what the
# write-up says of each (tests/test_models.py checks that the built networks have these heads
# and backbones; tests/test_sbh_study.py that the keys are the catalogue's).
STRUCTURES = {
    "arch1": StructureInfo(
        "(1)", False, True, ("abc",), "two backbones on the same image, features concatenated, one 3-class head"
    ),
    "arch2": StructureInfo("(2)", True, True, ("abc",), "one backbone, one 3-class head"),
    "arch3": StructureInfo("(3)", True, False, ("a", "b"), "one backbone, binary heads A and B"),
    "arch4-1": StructureInfo(
        "(4)-1", False, False, ("a", "b"), "two backbones, features concatenated into one shared MLP, outputs A and B"
    ),
    "arch4-2": StructureInfo(
        "(4)-2", False, False, ("a", "b"), "two independent models: backbone A -> head A, backbone B -> head B"
    ),
}
BACKBONES = tuple(catalogue.BACKBONES)


@dataclass(frozen=True)
class SbhSettings:
    """One profile of the study: budgets, train-set cap, validation, loss, weights, timing, thresholds."""

    budget: Budget
    train_images: int | None  # cap on the training images of a grid case (class-balanced, seeded); None = all
    timing: TimingRounds
    thresholds: dict = field(default_factory=dict)  # threshold group (see SbhCase.group) -> {metric: minimum}
    # Unstable groups (some seeds collapse to chance): judged on how many seeds converge instead.
    seed_gates: dict = field(default_factory=dict)  # threshold group -> SeedGate
    sweep_budget: Budget | None = None  # the sweeps' budget where it differs (the authors' sweep stopping rule)
    val_fraction: float = 0.0  # seeded share of the training subset held out for early stopping; 0 = none
    softmax_loss: bool = False  # cross-entropy on softmax outputs (the authors' code) instead of on logits
    weights: str = "none"  # backbone initialisation when --weights is auto
    deviation: str = ""  # how the profile departs from the authors' protocol, for the report

    def budget_for(self, experiment: str) -> Budget:
        return self.sweep_budget if experiment in ("size", "lr") and self.sweep_budget else self.budget


def digits_tag(digits: tuple[int, ...]) -> str:
    return "d" + "".join(map(str, digits))


def lr_tag(lr: float) -> str:
    return f"lr{lr_text(lr)}"


def writeup_accuracies() -> dict[str, list[float]]:
    """Every accuracy the authors report (studies/writeups), per threshold group."""
    runs: dict[str, list[float]] = {}

    def add(group: str, accuracy: str) -> None:
        runs.setdefault(group, []).append(float(accuracy))

    for row in writeups.rows("001_experiment_2"):
        add(f"writeup001/{row['backbone']}", row["accuracy"])
    for row in writeups.rows("001_experiment_1"):
        add(f"writeup001-exp1/{row['backbone']}", row["accuracy"])
    for combo in WRITEUP000_COMBOS:
        for row in writeups.rows(f"000_combo_{''.join(map(str, combo))}"):
            add(f"combos/{row['backbone']}", row["accuracy"])
    for row in writeups.rows("000_size_sweep"):
        add(f"size/n{int(row['train_dataset_size'])}/{row['backbone']}", row["accuracy"])
    for row in writeups.rows("000_lr_sweep"):
        add(f"lr/{lr_tag(float(row['learning_rate']))}/{row['backbone']}", row["accuracy"])
    return dict(sorted(runs.items()))


def writeup_thresholds(margin: float = judge.MARGIN) -> dict[str, dict[str, float]]:
    """Thresholds of the ``writeup`` profile from the authors' own results: per group, their
    lowest accuracy minus ``margin``, floored to 0.01. A group where the authors' own runs fell
    below the untrained floor (the large learning rates, where many runs sit at chance) gets no
    minimum: it is seed-gated instead (``writeup_seed_gates``)."""
    metric = {True: "acc_mean_heads", False: "acc_all_heads"}
    return {
        group: {metric[group.startswith("writeup001-exp1/")]: judge.bar(min(runs), margin)}
        for group, runs in writeup_accuracies().items()
        if judge.bar(min(runs), margin) >= judge.FLOOR
    }


def writeup_seed_gates(margin: float = judge.MARGIN) -> dict[str, SeedGate]:
    """The groups ``writeup_thresholds`` leaves out, each gated on 2 of 3 seeds reaching the
    authors' lowest converged accuracy (at or above the floor) minus ``margin``; the floor itself
    where none of their runs converged."""
    floor = judge.FLOOR
    gates = {}
    for group, runs in writeup_accuracies().items():
        if judge.bar(min(runs), margin) >= floor:
            continue
        converged = [a for a in runs if a >= floor]
        bar = max(judge.bar(min(converged), margin), floor) if converged else floor
        gates[group] = SeedGate("acc_all_heads", bar=bar)
    return gates


# Groups with no calibration runs yet assert only the judge's floor (docs/thresholds.md).
UNCALIBRATED_FLOOR = {"acc_all_heads": judge.FLOOR}

# fp32: the authors trained without mixed precision.
_WRITEUP_BUDGET = Budget(
    epochs=100, batch_size=32, lr=BASE_LR, optimizer="adamw", patience=10, monitor="accuracy", precision="fp32"
)

PROFILES = {
    "smoke": SbhSettings(
        # 96 Adam steps at batch 32: one epoch of the 3,072-image grid subset; the sweeps'
        # smaller subsets get as many epochs as 96 steps need.
        budget=Budget(epochs=1, batch_size=32, lr=BASE_LR, min_steps=96),
        train_images=3072,
        # The accuracy pass just before timing runs the same function on the same shapes,
        # which warms caches; the full profile adds explicit rounds for cuDNN autotuning.
        # Five rounds: the fewest with which the gate's rank test can reach its alpha on one
        # seed (reports/compare.py; 5 against 5 rounds: p >= 1/252).
        timing=TimingRounds(rounds=5, warmup=0),
        # Seeds 0-2 behind every group by the documented rule (studies/sbh/thresholds.json, written by
        # `python -m reports calibrate --write sbh`; docs/thresholds.md). Unstable groups (a seed at
        # chance, or the authors' own runs collapsed) are judged on how many seeds converge.
        thresholds=thresholds.minimums(NAME, "smoke"),
        seed_gates=thresholds.seed_gates(NAME, "smoke"),
        deviation="fixed 96 Adam steps from random init, last weights tested, logits into cross-entropy, "
        "no validation split; write-up 001/000's grid cases on a balanced 3,072-image subset",
    ),
    "full": SbhSettings(
        budget=Budget(epochs=5, batch_size=64, lr=BASE_LR),
        train_images=None,
        timing=TimingRounds(rounds=10, warmup=2),
        thresholds={},
        deviation="5 Adam epochs at batch 64 from random init, last weights tested, logits into cross-entropy",
    ),
    "writeup": SbhSettings(
        budget=_WRITEUP_BUDGET,
        sweep_budget=replace(_WRITEUP_BUDGET, patience=20, monitor="loss"),
        train_images=None,
        val_fraction=0.1,
        softmax_loss=True,
        weights="imagenet",
        timing=TimingRounds(rounds=10, warmup=2),
        thresholds=thresholds.minimums(NAME, "writeup"),
        seed_gates=thresholds.seed_gates(NAME, "writeup"),
        deviation="",
    ),
}


@dataclass(frozen=True)
class SbhCase:
    digits: tuple[int, int, int]
    structure: str
    backbone: str
    train_size: int | None = None  # sweeps: prefix of the 60k training set; None: the profile's cap
    lr: float | None = None  # None: the profile's base rate
    experiment: str = "writeup001"
    selection: str = "all_heads"  # the accuracy that early stopping watches and the threshold checks

    @property
    def id(self) -> str:
        parts = [digits_tag(self.digits)]
        if self.selection == "mean_heads":
            parts.append("exp1")
        if self.train_size is not None:
            parts.append(f"n{self.train_size}")
        if self.lr is not None:
            parts.append(lr_tag(self.lr))
        return "-".join([*parts, self.structure, self.backbone])

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.structure, self.backbone)

    @property
    def metric(self) -> str:
        return SELECTION_METRIC[self.selection]

    @property
    def group(self) -> str:
        """The cases that share one threshold: same experiment, backbone and swept value."""
        if self.experiment == "size":
            return f"size/n{self.train_size}/{self.backbone}"
        if self.experiment == "lr":
            return f"lr/{lr_tag(self.lr)}/{self.backbone}"
        if self.selection == "mean_heads":
            return f"writeup001-exp1/{self.backbone}"
        # Digit combos given on the command line train on the same budget as write-up 000's combos.
        return f"{'writeup001' if self.experiment == 'writeup001' else 'combos'}/{self.backbone}"

    @property
    def head_groups(self) -> dict[str, list[list[int]]]:
        """Each head's class groups, in digits: e.g. {"a": [[0, 1], [2]], "b": [[0, 2], [1]]}."""
        heads = STRUCTURES[self.structure].heads
        return {h: [[self.digits[i] for i in group] for group in HEAD_GROUPS[h]] for h in heads}

    @property
    def in_cpu_default(self) -> bool:
        """Part of the CPU default run (see CPU_DEFAULT_*); the rest is ``sbh_extended``."""
        if self.id in CI_CASES:
            return True
        if self.selection != "all_heads":
            return False  # experiment 1 differs from 2 only with early stopping, which smoke does not do
        if self.experiment == "writeup001":
            return True
        if self.backbone not in CPU_DEFAULT_BACKBONES:
            return False
        if self.experiment == "size":
            return self.train_size in CPU_DEFAULT_SIZES
        if self.experiment == "lr":
            return self.lr in CPU_DEFAULT_RATES
        return True

    def params(self) -> dict:
        return {
            "experiment": self.experiment,
            "digits": list(self.digits),
            "structure": self.structure,
            "backbone": self.backbone,
            "heads": self.head_groups,
            "selection": self.metric,
            "train_size": self.train_size,
            "lr": self.lr,
        }

    def thresholds(self, settings: SbhSettings) -> tuple[dict, bool]:
        """The group's calibrated minima, or the untrained-model floor where no runs exist yet;
        none per seed in a seed-gated group (``seed_gate``)."""
        if self.group in settings.seed_gates:
            return {}, True
        if self.group in settings.thresholds:
            return settings.thresholds[self.group], True
        return {self.metric: UNCALIBRATED_FLOOR["acc_all_heads"]}, False

    def seed_gate(self, settings: SbhSettings) -> SeedGate | None:
        return settings.seed_gates.get(self.group)


def grid(digits: tuple[int, int, int], **overrides) -> list[SbhCase]:
    """Every structure times every backbone for one digit combination."""
    return [SbhCase(digits, structure, backbone, **overrides) for backbone in BACKBONES for structure in STRUCTURES]


EXPERIMENTS = (
    Experiment(
        "writeup001",
        "sbh_writeup001",
        "write-up 001's grid on digits (0, 1, 2): experiment 2 (all heads right) and, under --profile writeup, "
        "experiment 1 (mean of heads) as separate runs (ids with -exp1-)",
    ),
    Experiment("combos", "sbh_combos", "write-up 000: the same grid on five more digit combinations, plus (0, 1, 2)"),
    Experiment(
        "size",
        "sbh_size",
        f"write-up 000: train-size sweep on {SWEEP_DIGITS}, prefixes of {len(TRAIN_SIZES)} sizes "
        f"{TRAIN_SIZES[0]}-{TRAIN_SIZES[-1]} of the 60k training set",
    ),
    Experiment(
        "lr",
        "sbh_lr",
        f"write-up 000: learning-rate sweep on {SWEEP_DIGITS}, prefix {LR_SWEEP_TRAIN_SIZE}, "
        f"{len(LEARNING_RATES)} rates {lr_text(LEARNING_RATES[0])} to {lr_text(LEARNING_RATES[-1])}",
    ),
    Experiment("custom", "sbh_custom", "digit combinations given with --digits", options="--digits A,B,C"),
)


def experiment_cases(experiment: str) -> list[SbhCase]:
    if experiment == "writeup001":
        return grid(WRITEUP001_DIGITS) + grid(WRITEUP001_DIGITS, selection="mean_heads")
    if experiment == "combos":
        return [case for digits in WRITEUP000_COMBOS for case in grid(digits, experiment="combos")]
    if experiment == "size":
        return [case for size in TRAIN_SIZES for case in grid(SWEEP_DIGITS, train_size=size, experiment="size")]
    if experiment == "lr":
        return [
            case
            for lr in LEARNING_RATES
            for case in grid(SWEEP_DIGITS, train_size=LR_SWEEP_TRAIN_SIZE, lr=lr, experiment="lr")
        ]
    raise ValueError(f"unknown sbh experiment {experiment!r}; choose from {', '.join(e.key for e in EXPERIMENTS)}")


def all_cases(extra_digits=()) -> list[SbhCase]:
    """Write-up 001's grid, write-up 000's combos and sweeps, then any extra combos not already there."""
    cases = [case for name in ("writeup001", "combos", "size", "lr") for case in experiment_cases(name)]
    known = {WRITEUP001_DIGITS, *WRITEUP000_COMBOS}
    for digits in dict.fromkeys(extra_digits):
        if digits not in known:
            cases += grid(digits, experiment="custom")
    return cases


def case_markers(case: SbhCase) -> list[str]:
    """The experiment's marker; write-up 001's grid is also the combos' (0,1,2) entry; ``ci`` for
    the CI subset; ``sbh_extended`` outside the CPU default run."""
    markers = [next(e.marker for e in EXPERIMENTS if e.key == case.experiment)]
    if case.experiment == "writeup001" and case.selection == "all_heads":
        markers.append("sbh_combos")
    if case.id in CI_CASES or (
        case.experiment == "writeup001" and case.selection == "all_heads" and case.backbone == "resnet18"
    ):
        markers.append("ci")
    if not case.in_cpu_default and case.experiment != "custom":
        markers.append("sbh_extended")
    return markers


# The CI selection besides write-up 001's ResNet-18 grid (``ci`` too, see case_markers): every
# backbone and experiment at least once, each case from a group of five or more cases in the
# CPU default run, so that its threshold rests on the group's three seeds, not on one run.
CI_CASES = (
    "d012-arch3-resnet50",
    "d012-arch4-2-resnet34",
    "d179-arch1-resnet18",
    "d689-n400-arch2-resnet18",
    "d689-n4000-lr1.5e-4-arch4-1-resnet18",
)


def parse_digits(text: str) -> tuple[int, int, int]:
    """``"2,5,7"`` -> (2, 5, 7); anything else is a ValueError that says what is expected."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and len(p) == 1 for p in parts):
        raise ValueError(f"--digits {text!r}: expected three digits 0-9 separated by commas, e.g. 2,5,7")
    digits = tuple(int(p) for p in parts)
    if len(set(digits)) != 3:
        raise ValueError(f"--digits {text!r}: the three digits must differ")
    return digits  # type: ignore[return-value]


def uncalibrated(profile: str) -> list[str]:
    """Backbones whose write-up 001 group has no calibrated bar under ``profile``: their cases
    assert only the floor. The pytest header names them."""
    settings = PROFILES.get(profile)
    if settings is None:
        return []
    calibrated = {*settings.thresholds, *settings.seed_gates}
    return [b for b in BACKBONES if f"writeup001/{b}" not in calibrated]


STUDY = Study(
    name=NAME,
    title="Shared vs. split backbone and head (write-ups 001, 000)",
    writeups=("001", "000"),
    description="shared vs. split backbone/head study (write-ups 001 and 000)",
    cases=all_cases,
    profiles=PROFILES,
    experiments=EXPERIMENTS,
    report="reports.sbh",
    uncalibrated=uncalibrated,
    calibrations=(
        # fp32 and bf16 runs of the same cases: a group that ran in both asserts the lower bar
        # (auto runs bf16 on a CPU with native bf16, fp32 elsewhere).
        Calibration(
            "smoke",
            "acc_all_heads",
            records=("runs/cpu-smoke/records", "runs/cpu-smoke-bf16/records"),
            unstable=lambda: set(writeup_seed_gates()),
        ),
        Calibration("writeup", writeup=lambda: (writeup_thresholds(), writeup_seed_gates())),
    ),
)
