"""Study ``perf_instructions``: CPU instructions of one training step and one inference batch,
counted under valgrind's callgrind (``harness/callgrind.py``), for LeNet-5, structure (2) on
ResNet-18 and the blocks study's VGG network.

Wall time needs the same quiet machine twice; instruction counts do not: the same statement
counts the same instructions to about 1 part in 10,000 in separate processes, whatever else the
host is doing (PERFORMANCE.md, "Instruction counts"). ``reports compare`` gates the counts on
any host whose valgrind, torch, Python and SIMD level match the baseline's.

Each case also times the same statement natively (one thread, as counted), so one record
carries both measures and the two gates can be set side by side (docs/gate.md).

This module is the torch-free definition; ``studies/perf_instructions/plan.py`` builds the
statements and runs the cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.settings import InputPrep
from studies import blocks, sbh
from studies.registry import Study

NAME = "perf_instructions"
PHASES = ("train-step", "inference-batch")


@dataclass(frozen=True)
class InstructionCase:
    model: str  # registry name
    build: tuple[tuple[str, object], ...]  # keyword arguments of models.create
    digits: tuple[int, ...] | None  # None: all ten digits, one head
    prep: InputPrep
    phase: str  # one of PHASES

    @property
    def id(self) -> str:
        backbone = dict(self.build).get("backbone")
        return "-".join(filter(None, [self.model, backbone, self.phase]))

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.model, *(v for k, v in self.build if k == "backbone"))

    @property
    def group(self) -> str:
        """The cases counted in one valgrind process: both phases of one network."""
        return self.id.removesuffix(f"-{self.phase}")

    def params(self, batch: int) -> dict:
        side = 28 + 2 * self.prep.pad
        return {
            "model": self.model,
            **dict(self.build),
            "phase": self.phase,
            "digits": list(self.digits) if self.digits else None,
            "batch": batch,
            "input": f"{side}x{side}",
        }


NETWORKS = [
    ("lenet5-new", (("num_classes", 10),), None, InputPrep(pad=2)),
    ("arch2", (("backbone", "resnet18"),), sbh.WRITEUP001_DIGITS, InputPrep(mean=0.5, std=0.5)),
    ("vgg", (), None, blocks.INPUT),
]
CASES = [InstructionCase(*network, phase) for network in NETWORKS for phase in PHASES]


@dataclass(frozen=True)
class InstructionSettings:
    batch: int  # images per step (write-up 001's batch; 28x28 except LeNet-5's padded 32x32)
    timed_rounds: int  # native timings of the same statement, for the wall-clock gate beside the count
    warmup_rounds: int


# One setting for every profile: the counts are a property of the code, not of a budget.
SETTINGS = InstructionSettings(batch=32, timed_rounds=30, warmup_rounds=3)
PROFILES = {"smoke": SETTINGS, "full": SETTINGS}


STUDY = Study(
    name=NAME,
    title="Instruction counts",
    writeups=(),
    description="instructions of one training step and one inference batch under valgrind's callgrind",
    cases=lambda: list(CASES),
    profiles=PROFILES,
    report="reports.instructions",
)
