"""Rule ``status``: a case passed in the baseline and did not pass now (failed, error, diverged, oom)."""

from __future__ import annotations

import pandas as pd

from reports.gate.settings import GateSettings
from reports.gate.verdict import Verdict


def verdicts(base: pd.DataFrame, cur: pd.DataFrame, study: str, settings: GateSettings) -> list[Verdict]:
    passed_before = set(base.loc[base["status"] == "passed", "case_id"])
    latest = cur.groupby("case_id")["status"].agg(
        lambda s: "passed" if (s == "passed").all() else ", ".join(sorted(set(s) - {"passed"}))
    )
    return [
        Verdict(
            study,
            case_id,
            "status",
            "status",
            baseline="passed",
            current=status,
            allowed="passed",
            regression=True,
            why="stopped passing",
        )
        for case_id, status in latest.items()
        if case_id in passed_before and status != "passed"
    ]
