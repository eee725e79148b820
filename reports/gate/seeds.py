"""Rule ``seeds`` (a seed-gated, unstable group: ``SeedGate`` in the study's profile): fewer than
the rule's ``need`` of the current run's seeds 0 .. ``of`` - 1 reached its bar; with fewer seeds
than the rule counts, the verdict says it was not judged."""

from __future__ import annotations

import pandas as pd

from reports.gate.accuracy import seed_gated
from reports.gate.settings import GateSettings
from reports.gate.verdict import Verdict
from reports.stats import seeds_reached


def verdicts(base: pd.DataFrame, cur: pd.DataFrame, study: str, settings: GateSettings) -> list[Verdict]:
    out = []
    for case_id in sorted(seed_gated(cur)):
        reached, counted, rule = seeds_reached(cur[cur["case_id"] == case_id])
        need, of = int(rule["seed_gate.need"]), int(rule["seed_gate.of"])
        before = ""
        if case_id in seed_gated(base):
            k, n, _ = seeds_reached(base[base["case_id"] == case_id])
            before = f"{k} of {n}"
        judged = counted >= of
        worse = judged and reached < need
        why = f"seeds 0-{of - 1} reaching {rule['seed_gate.bar']:.2f}"
        if not judged:
            why = f"not judged: {counted} of seeds 0-{of - 1} ran; the rule counts {of}"
        metric = f"{rule['seed_gate.metric']} seeds >= {rule['seed_gate.bar']:.2f}"
        kind = "accuracy" if worse else "ok"
        out.append(
            Verdict(
                study,
                case_id,
                metric,
                kind,
                baseline=before,
                current=f"{reached} of {counted}",
                allowed=f">= {need} of {of}",
                regression=worse,
                why=why,
            )
        )
    return out
