"""What a study is, in one small interface every part of the suite reads.

A study module (``studies/<name>/__init__.py``) is a torch-free definition: its cases as
data, its profiles, its experiments (each a pytest marker), the write-ups it reproduces, and
where its report lives, which gate rules apply to its records and where its bars come from.
The measuring side of a study is ``studies/<name>/plan.py``, which turns a case into a job for
the one runner (``harness.runner``). ``benchmarks/``, ``conftest.py`` and ``python -m reports``
read ``STUDIES`` (``studies/__init__.py``) instead of repeating the names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Experiment:
    """A named part of a study with its own pytest marker, e.g. write-up 000's size sweep."""

    key: str  # the value of ``params.experiment`` in the records
    marker: str
    description: str
    options: str = ""  # what the command needs besides the marker, e.g. ``--digits A,B,C``

    @property
    def command(self) -> str:
        return " ".join(filter(None, ["pytest benchmarks -m", self.marker, self.options]))


@dataclass(frozen=True)
class Calibration:
    """Where one profile's bars come from; ``python -m reports calibrate --write STUDY`` applies
    the documented rule (harness/judge.py, docs/thresholds.md) and writes the study's
    ``thresholds.json``, which the profile reads.

    Either our committed records (``records``: folders relative to the checkout, one per
    precision; a group that ran in several gets the lowest bar; a case needs ``seeds`` seeds
    before its group gets a bar), or the write-ups' own results (``writeup``: returns the bars,
    ``({group: {metric: bar}}, {group: bar of a seed gate})``, from studies/writeups)."""

    profile: str
    metric: str = ""
    records: tuple[str, ...] = ()
    seeds: int = 3
    # Groups gated on seeds whatever our runs show (the authors' own runs of them collapsed).
    unstable: Callable[[], set[str]] | None = None
    writeup: Callable[[], tuple[dict, dict]] | None = None


@dataclass(frozen=True)
class Study:
    name: str  # folder of its records, the reports' file name, the pytest marker
    title: str
    writeups: tuple[str, ...]  # the write-ups it reproduces, e.g. ("001", "000")
    description: str  # the marker's help text
    cases: Callable[..., list]  # every declared case (each has ``id`` and ``model_names``)
    profiles: Mapping[str, Any]  # profile name -> the study's settings for that profile
    experiments: tuple[Experiment, ...] = ()
    report: str | None = None  # module whose ``build(frame, ...)`` gives the template's context
    run_alone: bool = False  # measures the machine: runs only when selected by its marker alone
    # The regression gate's rules that apply to its records (reports/gate/): what its metrics mean.
    gate_rules: tuple[str, ...] = ("accuracy", "seeds", "time", "instructions", "status")
    calibrations: tuple[Calibration, ...] = ()  # the profiles whose bars studies/<name>/thresholds.json holds
    # profile -> the models whose cases assert only the untrained floor there (no calibrated bar)
    uncalibrated: Callable[[str], list[str]] | None = None

    @property
    def template(self) -> str:
        return f"{self.name}.md.j2"

    @property
    def command(self) -> str:
        return f"pytest benchmarks -m {self.name}"

    def markers(self) -> list[tuple[str, str]]:
        """(marker, help) for the study and each experiment, as pytest registers them."""
        return [(self.name, self.description), *((e.marker, f"{self.name}: {e.description}") for e in self.experiments)]

    def experiment(self, key: str) -> Experiment:
        for experiment in self.experiments:
            if experiment.key == key:
                return experiment
        raise ValueError(
            f"unknown {self.name} experiment {key!r}; choose from {', '.join(e.key for e in self.experiments)}"
        )
