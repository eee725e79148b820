"""Plain settings a study declares: the training budget and the input preparation.

Kept free of torch so that the study definitions (``studies/<name>/__init__.py``), the
registry and the reporter can read them on a machine without the training stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judge import SEED_GATE_NEED, SEED_GATE_OF

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def lr_text(lr: float) -> str:
    """A learning rate as the write-ups write it: 1.5e-4, 5e-3, 1e-4 (case ids and report pages)."""
    mantissa, exponent = f"{lr:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


@dataclass(frozen=True)
class Budget:
    epochs: int
    batch_size: int
    lr: float
    eval_batch_size: int = 1024
    # ReduceLROnPlateau on the evaluated split's loss, torch's (and Keras's) defaults:
    # factor 0.1 after 10 epochs without improvement.
    plateau: bool = False
    optimizer: str = "adam"  # "adam" or "adamw" (torch's defaults otherwise, weight decay 0.01 for AdamW)
    # Early stopping on the evaluated split: stop after ``patience`` epochs without a better
    # ``monitor`` ("accuracy": higher, "loss": lower) and test the best epoch's weights;
    # ``epochs`` is then only the cap that makes every run end. None: train all epochs, keep the last.
    patience: int | None = None
    monitor: str = "accuracy"
    # At least this many optimizer steps: a small train set gets more epochs, so a fixed
    # smoke budget does not leave a 110-image subset at 3 steps.
    min_steps: int = 0
    # The profile's precision when --precision is auto: "auto" (bf16 where native, see
    # harness.precision) or "fp32" (the write-ups' protocols, which their authors ran in fp32).
    precision: str = "auto"


@dataclass(frozen=True)
class InputPrep:
    """What turns a uint8 batch into the network's input, on the device, for a whole batch at once.

    ``pad`` zero-pads every side (28 -> 32 with 2); ``resize`` rescales bilinearly to a square
    side instead; ``shift`` is training-time augmentation: each image moved by up to that many
    pixels in x and y (zeros flow in), drawn from torch's generator, which each case seeds.
    """

    pad: int = 0
    resize: int | None = None
    mean: float = MNIST_MEAN
    std: float = MNIST_STD
    shift: int = 0


@dataclass(frozen=True)
class TimingRounds:
    """How often the inference timing repeats: untimed warm-up rounds, then timed rounds."""

    rounds: int
    warmup: int = 0


@dataclass(frozen=True)
class SeedGate:
    """The rule of a threshold group whose runs sometimes collapse to chance (large learning
    rates): one seed's accuracy is no verdict, so no seed asserts a minimum alone; the case
    fails when fewer than ``need`` of its seeds 0 .. ``of`` - 1 reach ``bar`` on ``metric``.
    The record that completes those seeds carries the verdict (harness.judge.judge_seeds)."""

    metric: str
    bar: float
    need: int = SEED_GATE_NEED
    of: int = SEED_GATE_OF

    def describe(self) -> str:
        return f"at least {self.need} of seeds 0-{self.of - 1} reach {self.metric} >= {self.bar:.2f}"
