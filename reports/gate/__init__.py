"""The regression gate: did this run get worse than the last good one?

Cases are matched by study and case id; each side pools the seeds it has. Each rule family
is a module that returns ``Verdict``s (``reports/gate/verdict.py``): ``accuracy``, ``seeds``,
``time``, ``instructions``, ``status`` (each module's docstring states its rule). A study
declares the rules that apply to its metrics (``Study.gate_rules``): the perf study asserts
speed ratios measured within one process, not accuracies, so it is gated through its status
(a ratio below its minimum fails the case) and its time only.

Schema-1 records (no timed rounds, fingerprint or probe) are compared on accuracy and
status; their times are listed as not gated. ``docs/gate.md`` has the noise measurements
the bounds and alphas come from (``reports/gate/settings.py``). ``reports/gate/output.py``
writes the verdicts as Markdown and JSON; ``python -m reports compare`` is the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.gate import accuracy, instructions, seeds, status, time
from reports.gate.settings import ACC_ALPHA, GateSettings
from reports.gate.verdict import COLUMNS, Verdict
from reports.load import collect_and_warn
from studies import STUDIES

# Rule family -> its verdicts; a study's ``gate_rules`` names which apply, in this order.
RULES = {
    "accuracy": accuracy.verdicts,
    "seeds": seeds.verdicts,
    "time": time.verdicts,
    "instructions": instructions.verdicts,
    "status": status.verdicts,
}


@dataclass
class Comparison:
    verdicts: list[Verdict]
    notes: list[str]

    @property
    def table(self) -> pd.DataFrame:
        """One row per (case, metric) compared, ``COLUMNS``."""
        return pd.DataFrame([v.row() for v in self.verdicts], columns=COLUMNS)

    @property
    def regressions(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == "REGRESSION"]


def load_side(paths: list[Path], side: str) -> pd.DataFrame:
    collection = collect_and_warn(paths, side)
    if collection.frame.empty:
        raise ValueError(f"{side}: no result records in {', '.join(map(str, paths))}")
    return collection.frame


def rules_of(study: str) -> tuple[str, ...]:
    """The rules a study declares; every rule for records of a study the registry does not know."""
    return STUDIES[study].gate_rules if study in STUDIES else tuple(RULES)


def compare(baseline: pd.DataFrame, current: pd.DataFrame, settings: GateSettings | None = None) -> Comparison:
    settings = settings or GateSettings()
    notes, found = [], []
    for study in sorted(set(baseline["study"])):
        base, cur = baseline[baseline["study"] == study], current[current["study"] == study]
        for rule in rules_of(study):
            verdicts = RULES[rule](base, cur, study, settings)
            found += verdicts
            skipped = [v for v in verdicts if rule == "time" and v.kind == "not_comparable"]
            if skipped:
                reasons = sorted({v.why for v in skipped})
                notes.append(f"{study}: times of {len(skipped)} case(s) not gated: {'; '.join(reasons)}.")
        missing = sorted(set(base["case_id"]) - set(cur["case_id"]))
        if missing:
            notes.append(
                f"{study}: {len(missing)} baseline case(s) not in the current run: "
                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}."
            )
    every_core = time.timed_on_every_core(pd.concat([baseline, current]))
    if every_core:
        notes.append(
            f"{every_core} record(s) were timed on the CPU with a thread on every core: on a shared machine their "
            "time moves far more between processes than the bound (docs/gate.md); for time verdicts, leave a "
            "core free (e.g. OMP_NUM_THREADS=1 on two cores, as tox -e nightly does)."
        )
    notes.append(
        f"Rules: accuracy drop beyond the seed range (and one-sided t-test p < {ACC_ALPHA} with 2+ current seeds); "
        "seed-gated (unstable) cases: fewer seeds reaching the bar than their rule needs; "
        f"time: probe-normalised ratio above +{settings.time_bound:.0%} and one-sided Mann-Whitney p < "
        f"{settings.time_alpha}; instructions: count above +{settings.instruction_bound:.1%}."
    )
    return Comparison(found, notes)
