"""Rule ``instructions`` (study ``perf_instructions``): callgrind's count of one training step or
inference batch rose by more than ``instruction_bound``, between records of equal
``instructions.identity`` (valgrind, torch, Python, SIMD level, threads) on any host, with no
probe: a count does not depend on how busy or fast the host is. The verdict names the
functions whose counts grew most."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.gate.settings import GateSettings
from reports.gate.time import one
from reports.gate.verdict import Verdict, not_comparable
from reports.load import measured as is_measured
from reports.stats import relative_spread

GROWN_FUNCTIONS = 3  # functions named in an instruction regression's verdict


def verdicts(base: pd.DataFrame, cur: pd.DataFrame, study: str, settings: GateSettings) -> list[Verdict]:
    bound = settings.instruction_bound
    column = "instructions.total"
    if column not in base or column not in cur:
        return []
    b, c = (side[is_measured(side) & side[column].notna()] for side in (base, cur))
    out = []
    for case_id in sorted(set(b["case_id"]) & set(c["case_id"])):
        before, after = b[b["case_id"] == case_id], c[c["case_id"] == case_id]
        identities = [one(side["instructions.identity"]) for side in (before, after)]
        if None in identities or identities[0] != identities[1]:
            why = "not comparable (different valgrind, torch, Python, SIMD level or threads: identities differ)"
            out.append(not_comparable(study, case_id, "instructions", why))
            continue
        count_b, count_c = float(before[column].median()), float(after[column].median())
        ratio = count_c / count_b
        worse = ratio > 1 + bound
        spreads = f"{relative_spread(before[column]):.2e} vs {relative_spread(after[column]):.2e}"
        why = f"{len(before)} vs {len(after)} run(s); spread {spreads}"
        if ratio != 1:
            why += "; grew most: " + grown_functions(before, after)
        kind = "instructions" if worse else "ok"
        out.append(
            Verdict(
                study,
                case_id,
                "instructions",
                kind,
                baseline=count_b,
                current=count_c,
                change=f"{ratio - 1:+.3%}",
                allowed=f"+{bound:.1%}",
                ratio=ratio,
                regression=worse,
                why=why,
            )
        )
    return out


def grown_functions(before: pd.DataFrame, after: pd.DataFrame, limit: int = GROWN_FUNCTIONS) -> str:
    """The functions whose exclusive counts grew most (median per side over its records; a
    function outside a side's listed top counts as 0 there, and is marked new)."""
    sides = []
    for side in (before, after):
        per_run = [dict(map(tuple, functions)) for functions in side["instructions.functions"]]
        names = set().union(*per_run)
        sides.append({name: float(np.median([run.get(name, 0) for run in per_run])) for name in names})
    growth = {name: sides[1].get(name, 0) - sides[0].get(name, 0) for name in set(sides[0]) | set(sides[1])}
    top = sorted((g, name) for name, g in growth.items() if g > 0)[::-1][:limit]
    if not top:
        return "no listed function grew"
    return ", ".join(f"`{name}` {g:+,.0f}{' (new)' if name not in sides[0] else ''}" for g, name in top)
