"""Report of study ``perf_instructions``: per case, the instruction count of one call (median
over the records, with their spread), the same statement's native time, and where the
instructions go."""

from __future__ import annotations

import pandas as pd

from reports.load import distinct, measured
from reports.stats import relative_spread

TOP = 5  # functions listed per case


def _spread(values: pd.Series) -> float:
    return relative_spread(values) if len(values) > 1 else float("nan")


def build(frame: pd.DataFrame, figures_dir, figures_rel, **_) -> dict:
    ok = frame[measured(frame) & frame.get("instructions.total", pd.Series(dtype=float)).notna()]
    rows, tops = [], []
    for case_id, runs in ok.groupby("case_id", sort=False):
        total = runs["instructions.total"].astype(float)
        seconds = runs["metrics.step_s"].astype(float)
        rows.append(
            {
                "case": case_id,
                "runs": len(runs),
                "instructions (M)": total.median() / 1e6,
                "spread of counts": _spread(total),
                "per image (M)": total.median() / 1e6 / runs["params.batch"].iloc[0],
                "native step (ms)": seconds.median() * 1e3,
                "spread of native times": _spread(seconds),
            }
        )
        functions = runs["instructions.functions"].iloc[-1]
        share = sum(count for _, count in functions[:TOP]) / total.iloc[-1]
        tops.append({"case": case_id, "largest functions (exclusive count, last run)": functions[:TOP], "share": share})
    table = pd.DataFrame(rows).set_index("case") if rows else pd.DataFrame()
    return {
        "table": table,
        "tops": tops,
        "valgrind": distinct(frame, "instructions.valgrind"),
        "capability": distinct(frame, "instructions.cpu_capability"),
        "threads": distinct(frame, "instructions.threads"),
        "batches": distinct(frame, "params.batch"),
        "failed": frame[~measured(frame)][["case_id", "status", "error"]].to_dict("records"),
    }
