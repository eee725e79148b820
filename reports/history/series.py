"""Series over runs: one per study, case, metric, machine fingerprint and precision.

A run is one (commit, run date) of the store; runs are ordered by their run date. Per run a
series has one level:

- **time** (studies gated on time): the median of every timed round of the run's seeds, each
  divided by its record's host speed (the matmul probe before and after the case, as the
  pairwise gate divides it: ``reports.gate.time.host_seconds``). That is what the change points
  are found on, because the host's speed moves between nights as it moves between processes.
  ``raw`` beside it is the median of the rounds as measured: the figures draw it, and a change
  point must show in it too (``reports.history.detect``): the probe may excuse, never accuse.
  Records without timed rounds or probe (schema 1) give no time level.
- **accuracy** (studies gated on accuracy): the mean of an asserted metric over the run's seeds.
  Seed-gated cases (one seed at chance moves their mean by half) are drawn but not judged.

``low`` and ``high`` are the seed band (the lowest and highest seed's value; time: each
seed's median of raw rounds) where several seeds ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.gate import rules_of
from reports.gate.accuracy import seed_gated
from reports.gate.time import host_seconds
from reports.load import measured, precision

POINT_COLUMNS = ["run", "git_commit", "run_date", "level", "raw", "low", "high", "seeds"]


@dataclass
class Series:
    study: str
    case_id: str
    metric: str
    kind: str  # "time" (higher is worse) or "accuracy" (lower is worse)
    fingerprint: str
    precision: str
    points: pd.DataFrame  # POINT_COLUMNS, one row per run that measured it, oldest first
    judged: bool = True  # False: drawn, no change points sought (seed-gated accuracy)
    group: str | None = None  # the case's threshold group, where it has one

    @property
    def machine(self) -> str:
        return f"{self.fingerprint} / {self.precision}"


def runs_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The store's runs, ordered by run date (then commit): ``run`` is the position."""
    runs = frame[["git_commit", "run_date"]].drop_duplicates().sort_values(["run_date", "git_commit"])
    return runs.reset_index(drop=True).rename_axis("run").reset_index()


def _rounds(row: pd.Series) -> list[float]:
    rounds = row.get("timing.rounds_s")
    if isinstance(rounds, list) and rounds:
        return [float(r) for r in rounds]
    return []


def _time_points(group: pd.DataFrame) -> dict:
    raw = np.concatenate([np.asarray(r) for r in group["_rounds"]])
    normalised = np.concatenate([np.asarray(r) / h for r, h in zip(group["_rounds"], group["_host"], strict=True)])
    per_seed = [float(np.median(r)) for r in group["_rounds"]]
    return {"level": float(np.median(normalised)), "raw": float(np.median(raw)), "values": per_seed}


def _with_band(point: dict, seeds: int) -> dict:
    values = point.pop("values")
    several = seeds > 1
    return {**point, "low": min(values) if several else np.nan, "high": max(values) if several else np.nan}


def _points(frame: pd.DataFrame, build) -> pd.DataFrame:
    rows = []
    for (run, commit, date), group in frame.groupby(["run", "git_commit", "run_date"], sort=True):
        point = build(group)
        if point is None:
            continue
        rows.append(
            {"run": run, "git_commit": commit, "run_date": date, **_with_band(point, len(group)), "seeds": len(group)}
        )
    return pd.DataFrame(rows, columns=POINT_COLUMNS)


def series_of(frame: pd.DataFrame) -> list[Series]:
    """Every series of a store's records (``reports.history.store.load``)."""
    runs = runs_of(frame)
    frame = frame.merge(runs, on=["git_commit", "run_date"])
    frame = frame[measured(frame)].copy()
    if frame.empty:
        return []
    fingerprints = frame.get("environment.fingerprint", pd.Series(None, index=frame.index, dtype=object))
    frame["_machine"] = fingerprints.fillna("not recorded")
    frame["_precision"] = precision(frame)
    frame["_rounds"] = frame.apply(_rounds, axis=1)
    frame["_host"] = host_seconds(frame)
    groups = frame.get("params.threshold_group", pd.Series(None, index=frame.index, dtype=object))
    frame["_group"] = groups.where(groups.notna(), None)
    out = []
    for (study, case_id, machine, kind), records in frame.groupby(["study", "case_id", "_machine", "_precision"]):
        rules = rules_of(study)
        group = next((g for g in records["_group"] if g), None)
        key = {"study": study, "case_id": case_id, "fingerprint": machine, "precision": kind, "group": group}
        timed = records[records["_rounds"].map(bool) & records["_host"].notna()]
        if "time" in rules and len(timed):
            measures = timed.get("timing.measures", pd.Series(dtype=object)).dropna()
            metric = measures.iloc[0] if len(measures) else "inference_s"
            out.append(Series(metric=metric, kind="time", points=_points(timed, _time_points), **key))
        if "accuracy" not in rules:
            continue
        asserted = sorted(
            c.removeprefix("thresholds.")
            for c in records.columns
            if c.startswith("thresholds.") and records[c].notna().any()
        )
        judged = case_id not in seed_gated(records)
        for metric in asserted:
            column = f"metrics.{metric}"
            if column not in records:
                continue
            values = records[records[column].notna()]

            def mean(group: pd.DataFrame, column: str = column) -> dict:
                level = float(group[column].astype(float).mean())
                return {"level": level, "raw": level, "values": group[column].astype(float).tolist()}

            if len(values):
                out.append(Series(metric=metric, kind="accuracy", points=_points(values, mean), judged=judged, **key))
    return out
