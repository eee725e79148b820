"""Study ``speed``: the networks a write-up compares by speed, timed side by side in one process.

Every speed comparison the reports make between networks reads these records, never times
taken in separate processes (harness/sidebyside.py says why). A case is one comparison group:
its networks are built in one process and timed round-robin, every round in a fresh seeded
order, each round one call per network in the write-up's unit:

- ``writeup001``: write-up 001's 15 networks (5 structures x ResNet-18/34/50, three heads on
  digits 0,1,2), one forward pass of a batch of 32 in eval mode without gradients, as the authors
  timed each test batch (Fig. 3).
- ``writeup003``: write-up 003's five block networks, one training step (forward, loss, backward,
  Adam step) and one forward pass, each at the author's batch size, reported per image. Beside
  the times the record holds each network's forward FLOPs per image and the peak memory of one
  training step, on the author's attention path for the transformer (``need_weights``, which
  builds the 784x784 attention map: models/blocks.py).

Training does not change a network's cost, so freshly built networks (random init) and seeded
random images stand in for trained ones and real digits. One precision for every network of a
group (the write-ups' fp32 unless ``--precision bf16``), so a ratio compares networks, not
precisions. This module is torch-free; ``studies/speed/plan.py`` measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from studies import blocks, sbh
from studies.registry import Study

NAME = "speed"
INFERENCE, TRAIN_STEP = "inference", "train_step"


@dataclass(frozen=True)
class Network:
    name: str  # the label reports use: "<structure>-<backbone>" or the blocks network
    model: str  # registry name
    build: tuple[tuple[str, str], ...]  # registry keyword arguments
    batch: int
    classes: int


@dataclass(frozen=True)
class SpeedCase:
    id: str
    writeup: str
    networks: tuple[Network, ...]
    phases: tuple[str, ...]
    unit: str  # what one timed round of a network is, in the write-up's terms

    @property
    def model_names(self) -> tuple[str, ...]:
        names = {n.model for n in self.networks} | {v for n in self.networks for k, v in n.build if k == "backbone"}
        return tuple(sorted(names))


WRITEUP001 = SpeedCase(
    id="writeup001",
    writeup="001",
    networks=tuple(
        Network(f"{structure}-{backbone}", structure, (("backbone", backbone), ("weights", "none")), 32, 3)
        for backbone in sbh.BACKBONES
        for structure in sbh.STRUCTURES
    ),
    phases=(INFERENCE,),
    unit="seconds of one forward pass of a batch of 32 (eval mode, no gradients), write-up 001's Fig. 3 unit",
)
WRITEUP003 = SpeedCase(
    id="writeup003",
    writeup="003",
    networks=tuple(Network(name, name, (), blocks.WRITEUP_BATCH[name], 10) for name in blocks.NETWORKS),
    phases=(TRAIN_STEP, INFERENCE),
    unit="seconds of one training step and of one forward pass at the author's batch size (200; CSP, SPPF 100;"
    " transformer 50); reports divide by the batch",
)
CASES = [WRITEUP001, WRITEUP003]


@dataclass(frozen=True)
class SpeedSettings:
    rounds: int  # timed calls per network and phase; 25 give a 95 % interval of a median from ranks 8-18
    warmup_rounds: int


# smoke: about 1.5 minutes for both groups at one thread on the 2-core AVX-512 CPU here (PERFORMANCE.md).
PROFILES = {
    "smoke": SpeedSettings(rounds=25, warmup_rounds=2),
    "full": SpeedSettings(rounds=50, warmup_rounds=5),
    "writeup": SpeedSettings(rounds=50, warmup_rounds=5),
}

STUDY = Study(
    name=NAME,
    title="Speed side by side",
    writeups=("001", "003"),
    description="the networks a write-up compares by speed, timed round-robin in one process",
    cases=lambda: list(CASES),
    profiles=PROFILES,
    report="reports.speed",
    # Its times are gated like any case's; it asserts no accuracy (it trains nothing).
    gate_rules=("time", "status"),
)
