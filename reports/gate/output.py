"""The gate's verdicts written out, in one place: Markdown for people, JSON for machines."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from reports.gate import Comparison
from reports.render import md_table


def markdown(result: Comparison, baseline: list[Path], current: list[Path]) -> str:
    table = result.table.assign(
        ratio=result.table["ratio"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}"),
        p_value=result.table["p_value"].map(lambda v: "" if pd.isna(v) else f"{v:.4f}"),
    )
    lines = [
        "# Comparison against the baseline",
        "",
        f"Baseline: {', '.join(map(str, baseline))} · current: {', '.join(map(str, current))}",
        "",
        f"**{len(result.regressions)} regression(s)** in {result.table['case_id'].nunique()} compared case(s).",
        "",
    ]
    lines += [f"- {note}" for note in result.notes]
    if not result.regressions.empty:
        lines += ["", "## Regressions", "", md_table(table[table["verdict"] == "REGRESSION"], index=False)]
    lines += ["", "## Every comparison", "", md_table(table, index=False), ""]
    return "\n".join(lines)


def verdicts_json(result: Comparison) -> list[dict]:
    """One entry per compared case and metric; NaN becomes null."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        for row in result.table.astype(object).where(result.table.notna(), None).to_dict("records")
    ]
