"""Tables, figures and computed statements for the ``sbh`` document (write-up 001's layout).

``tables`` holds the frame and pivots, ``summaries`` the computed sentences and tests,
``sections`` the parts with figures; ``build`` puts them together for the template.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.settings import lr_text
from reports import markers, stats
from reports.figures import grouped_bars
from reports.sbh import claims, writeup
from reports.sbh.sections import combos_section, figure_entry, pareto_part, reproduce_command, sweep_section
from reports.sbh.summaries import (
    ACCURACY_METRICS,
    mcnemar_table,
    significance,
    significance_table,
    summary,
    writeup000_summary,
)
from reports.sbh.tables import (
    budget,
    budget_words,
    cases_frame,
    ci_pivot,
    expected_cases,
    failed_mask,
    one_machine_times,
    pivot,
    seed_gates,
    shown,
    structures_table,
)
from reports.speed import SideBySide, side_by_side
from studies import sbh

# What the template says of write-up 000's sweeps (the study's own definition).
SWEEPS = {
    "sizes": sbh.TRAIN_SIZES,
    "buckets": sbh.SIZE_BUCKETS,
    "rates": [lr_text(v) for v in sbh.LEARNING_RATES],
    "lr_images": sbh.LR_SWEEP_TRAIN_SIZE,
    "digits": ",".join(map(str, sbh.SWEEP_DIGITS)),
}


def combo_section(
    digits: str, group: pd.DataFrame, figures_dir: Path, link_prefix: str, sbs: SideBySide | None = None
) -> dict:
    """One digit combination trained on the profile's standard budget: its cases, summary and bar figures."""
    tag = sbh.digits_tag(tuple(int(d) for d in digits.split(",")))
    flagged = failed_mask(group)
    section = {
        "digits": digits,
        "tag": tag,
        "command": reproduce_command(group["experiment"].iloc[0], digits),
        "figures": [],
        "summary": summary(group, sbs),
        "cases": group,
        "legend": markers.footnote(group["marks"]),
    }
    for metric, title in [*ACCURACY_METRICS.items(), ("inference_s", "inference time (s)")]:
        is_time = metric == "inference_s"
        fmt = ".3f" if is_time else ".4f"
        seeds = stats.seeds_words(group[group[metric].notna()])
        path = grouped_bars(
            pivot(group, metric),
            figures_dir / f"{tag}_{metric}.png",
            title=f"{'inference time for the test subset' if is_time else title}\ndigits {digits}, {seeds}",
            ylabel="seconds (median of rounds)" if is_time else "test accuracy",
            zoom=not is_time,
            flagged=flagged,
            errors=ci_pivot(group, metric),
            ymax=None if is_time else 1.0,
        )
        section["figures"].append(
            {**figure_entry(path, link_prefix, title, shown(group, metric, fmt), fmt), "metric": metric}
        )
    return section


def build(
    df_all: pd.DataFrame,
    figures_dir: Path,
    link_prefix: str,
    *,
    records: dict | None = None,
    results_dirs: list[Path] = (),
    **_,
) -> dict:
    """Everything the ``sbh`` template needs; figures are written under ``figures_dir``."""
    df, time_notes = one_machine_times(cases_frame(df_all))
    sbs = side_by_side(records, "writeup001")
    ran = set(df["case_id"]) if not df.empty else set()
    expected = expected_cases(df_all)
    missing = [case_id for case_id in expected if case_id not in ran]
    measured = df[df["measured"]] if not df.empty else df
    writeup000 = {}
    if not measured.empty:
        writeup000 = {
            "combos": combos_section(df, figures_dir, link_prefix, sbs),
            "size": sweep_section(df, "size", figures_dir, link_prefix),
            "lr": sweep_section(df, "lr", figures_dir, link_prefix),
        }
    spent = budget(df) if not df.empty else {}
    words = budget_words(spent) if spent else ""
    context = {
        "budget": spent,
        "expected_count": len(expected),
        "default_count": sum(1 for case in sbh.all_cases() if case.in_cpu_default and case.id in set(expected)),
        "default_present": sum(1 for case in sbh.all_cases() if case.in_cpu_default and case.id in ran),
        "deviations": {p: sbh.PROFILES[p].deviation for p in spent.get("profiles", []) if p in sbh.PROFILES},
        "budget_words": words,
        "time_notes": time_notes,
        "seed_gates": seed_gates(df) if not df.empty else pd.DataFrame(),
        "versus": writeup.section(df, figures_dir, link_prefix, sbs) if not df.empty else None,
        "claims": claims.check(df, sbs) if not df.empty else None,
        "structures": structures_table(),
        "experiments": {e.key: e for e in sbh.EXPERIMENTS},
        "missing": missing,
        "problems": df[~df["status"].eq("passed")] if not df.empty else df,
        "sections": [],
        "writeup000": {name: part for name, part in writeup000.items() if part is not None},
        "writeup000_summary": writeup000_summary(writeup000),
        "sweeps": SWEEPS,
    }
    # One section per digit combo trained on the profile's standard budget (the sweeps have their own).
    per_combo = (
        measured[measured["experiment"].isin(["writeup001", "combos", "custom"])] if not measured.empty else measured
    )
    for digits, group in per_combo.groupby("digits", sort=True) if not per_combo.empty else []:
        context["sections"].append(combo_section(digits, group, figures_dir, link_prefix, sbs))
    context["significance"] = significance(df)
    context["significance_table"] = significance_table(context["significance"])
    context["pareto"] = pareto_part(df, figures_dir, link_prefix, sbs)
    context["mcnemar"] = mcnemar_table(df, records or {}, results_dirs)
    sweep_cases = measured[measured["experiment"].isin(["size", "lr"])] if not measured.empty else measured
    context["sweep_cases"] = sweep_cases
    context["sweep_legend"] = markers.footnote(sweep_cases["marks"]) if not sweep_cases.empty else ""
    context["problems_legend"] = markers.footnote(context["problems"]["marks"]) if not context["problems"].empty else ""
    return context
