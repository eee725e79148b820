"""The study registry: every study of the suite, declared once.

Adding a study is: a models entry, a study package (``studies/<name>/__init__.py`` declaring a
``STUDY``, ``plan.py`` building its cases), a template, and one line in ``STUDIES`` below.
Nothing here imports torch, so the reporter can read the registry on any machine.
"""

from __future__ import annotations

from studies import blocks, emnist, perf, perf_instructions, sbh, speed
from studies.registry import Experiment, Study

STUDIES: dict[str, Study] = {
    s.name: s for s in (sbh.STUDY, blocks.STUDY, emnist.STUDY, perf.STUDY, perf_instructions.STUDY, speed.STUDY)
}

# Markers that are not a study's: the CI subset of the long grids, and "trains a network".
GENERAL_MARKERS = {
    "ci": "the representative subset of the long grids that CI runs",
    "sbh_extended": "sbh cases outside the CPU default run (other backbones, other sweep values); run when selected",
    "slow": "trains a network; part of the CI run but skippable with -m 'not slow'",
}

__all__ = ["GENERAL_MARKERS", "STUDIES", "Experiment", "Study"]
