"""What one pytest session runs with: profile, device, data root, results directory, seed.

Built once from the command-line options in the root ``conftest.py`` and handed to every
case as a session fixture; loaded datasets are cached here for the whole session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

# ``writeup``: the write-up author's own protocol, where a study defines one (blocks today);
# studies without it skip their cases with the reason.
PROFILE_CHOICES = ("auto", "smoke", "full", "writeup")


WEIGHTS_CHOICES = ("auto", "none", "imagenet")


def check_weights(value: str) -> str:
    """``--weights``: one of WEIGHTS_CHOICES or an existing file or folder of state dicts."""
    if value in WEIGHTS_CHOICES or Path(value).expanduser().exists():
        return value if value in WEIGHTS_CHOICES else str(Path(value).expanduser())
    raise ValueError(f"--weights {value!r}: neither {', '.join(WEIGHTS_CHOICES)} nor an existing file or folder")


def resolve_profile(name: str, device: torch.device) -> str:
    """``auto`` means the write-ups' full budget on CUDA and the small CPU budget elsewhere."""
    if name not in PROFILE_CHOICES:
        raise ValueError(f"unknown profile {name!r}; valid choices: {', '.join(PROFILE_CHOICES)}")
    if name == "auto":
        return "full" if device.type == "cuda" else "smoke"
    return name


@dataclass
class RunContext:
    profile: str
    device: torch.device
    data_root: Path
    results_dir: Path
    seed: int = 0
    deterministic: bool = False
    compile: bool = False  # torch.compile the models; the first epoch's time then includes compilation
    skip_done: bool = False
    # Backbone initialisation: "auto" (the profile's choice), "none", "imagenet" or a state dict path.
    weights: str = "auto"
    precision: str = "auto"  # --precision: auto, fp32 or bf16 (harness.precision)
    _cache: dict = field(default_factory=dict, repr=False)

    def cached(self, key, make):
        """Session-wide cache for expensive, read-only inputs such as decoded datasets."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]
