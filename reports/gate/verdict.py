"""What every rule of the gate returns: one ``Verdict`` per compared case and metric."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    study: str
    case_id: str
    metric: str
    kind: str  # the rule that flagged it (accuracy, time, instructions, status), "ok" or "not_comparable"
    baseline: object = None
    current: object = None
    change: str | float = ""  # a float is an accuracy difference, written +0.0000
    allowed: str = ""
    ratio: float | None = None
    p_value: float | None = None
    regression: bool = False
    why: str = ""

    @property
    def verdict(self) -> str:
        if self.regression:
            return "REGRESSION"
        return "not comparable" if self.kind == "not_comparable" else "ok"

    def row(self) -> dict:
        """The verdict as a table row (``COLUMNS``): ``regression`` written out as ``verdict``."""
        change = f"{self.change:+.4f}" if isinstance(self.change, float) else self.change
        return {name: change if name == "change" else getattr(self, name) for name in COLUMNS}


COLUMNS = [
    "study",
    "case_id",
    "metric",
    "kind",
    "baseline",
    "current",
    "change",
    "allowed",
    "ratio",
    "p_value",
    "verdict",
    "why",
]


def not_comparable(study: str, case_id: str, metric: str, why: str) -> Verdict:
    return Verdict(study, case_id, metric, "not_comparable", why=why)
