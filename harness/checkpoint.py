"""Training state kept between epochs, so that a case stopped mid-training (Ctrl-C, a killed job,
a runner's time limit) goes on from its last saved epoch when it is run again with
``--skip-done``, instead of from its first.

The state holds everything the next epoch depends on: weights, optimizer and scheduler, the
batch-order generator and the global random states (random shifts, dropout), the history and
the early-stopping memory. Resumed on the same device type, thread count and code, a CPU run
therefore ends with the same weights and metrics as one that was never stopped
(``tests/test_checkpoint.py``). A state saved for another case, seed, profile, budget, precision
or commit is ignored, never mixed in.

The file lives under ``RESULTS/.resume/`` (hidden: reports read only records), is written
atomically, and is removed once the case's record is written, whatever its status.
"""

from __future__ import annotations

import io
import json
import logging
import random
import time
from pathlib import Path

import torch

from harness.fileio import atomic_write_bytes

log = logging.getLogger("backbone_bench")

# Saving is throttled: a ResNet's weights and Adam moments are a few hundred MB, and the smoke
# sweeps train tens of short epochs; at most one save a minute keeps the cost under a percent.
SAVE_EVERY_S = 60.0


def checkpoint_path(results_dir: Path, study: str, case_id: str, seed: int) -> Path:
    return Path(results_dir) / ".resume" / study / f"{case_id}-seed{seed}.pt"


class EpochCheckpoint:
    """One case's training state on disk, tied to ``identity`` (what the state must belong to)."""

    def __init__(self, path: Path, identity: dict, *, save_every_s: float | None = None) -> None:
        self.path = Path(path)
        # Compared as canonical JSON, so tuples and lists, or key order, make no difference.
        self.identity = json.loads(json.dumps(identity, sort_keys=True, default=str))
        self.save_every_s = SAVE_EVERY_S if save_every_s is None else save_every_s
        self.resumed_after: int | None = None  # set by ``fit`` when it went on from a saved epoch
        self._last_save = time.monotonic()

    def load(self) -> dict | None:
        """The saved state, or None when there is none or it belongs to another run."""
        if not self.path.is_file():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a file from another torch or a damaged disk: start over, say so
            log.warning("ignoring unreadable training state %s: %s", self.path, exc)
            return None
        if state.get("identity") != self.identity:
            log.warning("ignoring training state %s: saved for another run or commit", self.path)
            return None
        return state

    def due(self, *, final: bool) -> bool:
        return final or time.monotonic() - self._last_save >= self.save_every_s

    def save(self, state: dict) -> None:
        buffer = io.BytesIO()
        torch.save({**state, "identity": self.identity, "rng": _random_states()}, buffer)
        atomic_write_bytes(self.path, buffer.getvalue())
        self._last_save = time.monotonic()


def discard(path: Path) -> None:
    """Remove a case's saved state, and its folders once they are empty (other cases' stay)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    for folder in (path.parent, path.parent.parent):
        try:
            folder.rmdir()
        except OSError:
            break


def _random_states() -> dict:
    states = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(state: dict) -> None:
    rng = state["rng"]
    random.setstate(rng["python"])
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
