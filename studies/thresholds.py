"""The one source of a study's thresholds: ``studies/<study>/thresholds.json``.

The file is written by ``python -m reports calibrate --write STUDY`` from the committed
records and the write-ups' results it names (with the rule and the evidence per group); the
study's profiles read their bars from it here, and the reports and the regression gate see
them through the profiles and the records. tests/test_calibration.py recomputes every file
and fails when it differs, so a bar edited by hand or records added without recalibrating
cannot land. Torch-free.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from harness.settings import SeedGate

FOLDER = Path(__file__).resolve().parent


def path(study: str) -> Path:
    return FOLDER / study / "thresholds.json"


@functools.cache
def load(study: str) -> dict:
    file = path(study)
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"error: {file}: unreadable ({type(exc).__name__}); "
            f"rewrite it with `python -m reports calibrate --write {study}`"
        ) from None


def minimums(study: str, profile: str) -> dict[str, dict[str, float]]:
    """{group: {metric: minimum}} of one profile."""
    return dict(load(study)["profiles"][profile]["minimums"])


def seed_gates(study: str, profile: str) -> dict[str, SeedGate]:
    """{group: SeedGate} of one profile's unstable groups."""
    gates = load(study)["profiles"][profile].get("seed_gates", {})
    return {group: SeedGate(gate["metric"], bar=gate["bar"]) for group, gate in gates.items()}
