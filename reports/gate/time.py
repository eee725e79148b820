"""Rule ``time``: slower beyond the bound, both as measured and after the host's speed is divided out.

The current run is slower by more than ``time_bound`` both as measured and after dividing by
how fast each host was at the time (the ratio of the records' probes, ``harness/probe.py``),
and a one-sided Mann-Whitney U test over the timed rounds, each divided by its record's probe,
is significant at ``time_alpha``. Times are compared only between records of equal machine
fingerprint and precision; otherwise the case gets a "not comparable" verdict. A uniformly
slower host (every time, probe included, scaled alike) is not a regression.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from reports.gate.settings import HOST_SPEED_KEYS, GateSettings
from reports.gate.verdict import Verdict, not_comparable
from reports.load import measured as is_measured
from reports.load import precision

PROBE = "environment.probe"


def host_seconds(frame: pd.DataFrame, keys: tuple[str, ...] = HOST_SPEED_KEYS) -> pd.Series:
    """Per record: the geometric mean of its ``keys`` probe times before and after the case
    (NaN without a probe)."""
    columns = [f"{PROBE}.{when}.{key}" for when in ("before", "after") for key in keys]
    if not all(c in frame.columns for c in columns):
        return pd.Series(np.nan, index=frame.index)
    return np.exp(np.log(frame[columns].astype(float)).mean(axis=1, skipna=False))


def _rounds(frame: pd.DataFrame) -> pd.Series:
    column = "timing.rounds_s"
    if column not in frame:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return frame[column].map(lambda v: v if isinstance(v, list) and v else None)


def one(values: pd.Series) -> str | None:
    """The single distinct value of a column, or None when it has none or several."""
    distinct = set(values.dropna())
    return distinct.pop() if len(distinct) == 1 else None


def _timed(frame: pd.DataFrame, host_keys: tuple[str, ...]) -> pd.DataFrame:
    """The measured records with their rounds, host speed and precision beside them."""
    ok = frame[is_measured(frame)]
    return ok.assign(_rounds=_rounds(ok), _host=host_seconds(ok, host_keys), _precision=precision(ok))


def _normalised(side: pd.DataFrame) -> np.ndarray:
    """Every timed round of a side, each divided by its own record's host speed."""
    return np.concatenate([np.asarray(r) / h for r, h in zip(side["_rounds"], side["_host"], strict=True)])


def _not_comparable(before: pd.DataFrame, after: pd.DataFrame) -> str | None:
    both = pd.concat([before, after])
    if both["_rounds"].isna().any() or both["_host"].isna().any():
        return "not gated: schema-1 record(s) without timed rounds and probe"
    prints = [one(side.get("environment.fingerprint", pd.Series(dtype=object))) for side in (before, after)]
    if None in prints or prints[0] != prints[1]:
        return "not comparable (different machine: fingerprints differ)"
    kinds = [one(side["_precision"]) for side in (before, after)]
    if None in kinds or kinds[0] != kinds[1]:
        return f"not comparable (different precision: {kinds[0] or 'mixed'} vs {kinds[1] or 'mixed'})"
    return None


def verdicts(base: pd.DataFrame, cur: pd.DataFrame, study: str, settings: GateSettings) -> list[Verdict]:
    bound, alpha = settings.time_bound, settings.time_alpha
    b, c = _timed(base, settings.host_keys), _timed(cur, settings.host_keys)
    out = []
    for case_id in sorted(set(b["case_id"]) & set(c["case_id"])):
        before, after = b[b["case_id"] == case_id], c[c["case_id"] == case_id]
        metric = one(pd.concat([before, after]).get("timing.measures", pd.Series(dtype=object))) or "inference_s"
        reason = _not_comparable(before, after)
        if reason:
            out.append(not_comparable(study, case_id, metric, reason))
            continue
        b_norm, c_norm = _normalised(before), _normalised(after)
        raw_b = np.median(np.concatenate(before["_rounds"].to_list()))
        raw_c = np.median(np.concatenate(after["_rounds"].to_list()))
        ratio = float(np.median(c_norm) / np.median(b_norm))
        p = float(stats.mannwhitneyu(c_norm, b_norm, alternative="greater").pvalue)
        # The raw ratio must exceed the bound too: on a noisy host the probe can read a busy
        # moment and make a case look slower than it ran (docs/gate.md); it may only excuse.
        worse = ratio > 1 + bound and raw_c / raw_b > 1 + bound and p < alpha
        host = float(after["_host"].median() / before["_host"].median())
        why = f"{len(b_norm)} vs {len(c_norm)} rounds; raw ratio {raw_c / raw_b:.3f}, host (probe) ratio {host:.3f}"
        if ratio > 1 + bound and not worse:
            if raw_c / raw_b <= 1 + bound:
                why += f"; raw ratio within +{bound:.0%} (a faster probe reading cannot accuse)"
            if p >= alpha:
                why += f"; not significant (p {p:.3f} >= {alpha})"
        kind = "time" if worse else "ok"
        out.append(
            Verdict(
                study,
                case_id,
                metric,
                kind,
                baseline=raw_b,
                current=raw_c,
                change=f"{ratio - 1:+.1%}",
                allowed=f"+{bound:.0%}",
                ratio=ratio,
                p_value=p,
                regression=worse,
                why=why,
            )
        )
    return out


def timed_on_every_core(frame: pd.DataFrame) -> int:
    """How many CPU records were timed with as many torch threads as the machine has cores."""
    columns = ["device", "environment.torch_threads", "environment.cpu_count", "timing.rounds_s"]
    if not all(c in frame.columns for c in columns):
        return 0
    timed = frame[frame["timing.rounds_s"].notna() & (frame["device"] == "cpu")]
    return int((timed["environment.torch_threads"] >= timed["environment.cpu_count"]).sum())
