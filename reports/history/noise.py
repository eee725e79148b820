"""``history noise RUN_DIR...``: same-commit reruns as a history of nights, with and without planted changes.

The runs given (the ten one-thread noise runs of docs/gate.md share one commit) become nights
1..N of a history in copies: night k gets the synthetic commit ``<commit>-nightNN`` and its
records' times moved by whole days so that night k is k - N days before the last run's own
date (order and time of day kept, every night in the past). Nothing committed is rewritten.

Without ``--store`` it prints the Markdown that docs/gate.md keeps: the measured noise floor,
the change points found in every prefix of the history (nights 1..n, as the nightly sees it on
night n: any is a false alarm), and for each timed case a planted 1.3x step from night 6 and
a 3 %-per-night creep from night 3 over 8 nights (its timed rounds scaled, its probe left
alone, as a slower code path would leave it): where the change point is found and the night
``history show`` first exits 1; then the same over other penalties.

With ``--store STORE`` it appends the nights (``--plant step|creep`` planted into every timed
case, or into ``--case STUDY/CASE``) to STORE through ``history add``: the committed history
that ``tox -e nightly`` appends tonight to.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from reports.history import store as history_store
from reports.history.detect import PENALTY, TIME_NOISE, ChangePoint, change_points, with_newness
from reports.history.series import Series, series_of

STEP = (1.3, 6)  # factor, first night on the new level
CREEP = (0.03, 3, 8)  # per night, first night, nights
OTHER_STEPS = (1.1, 1.2, 1.3, 1.5)
PENALTIES = (4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)


@dataclass(frozen=True)
class Plant:
    kind: str  # "step" or "creep"
    case: tuple[str, str] | None  # (study, case id); None: every timed case

    def factor(self, night: int) -> float:
        if self.kind == "step":
            factor, first = STEP
            return factor if night >= first else 1.0
        rate, first, nights = CREEP
        return (1 + rate) ** min(max(night - first + 1, 0), nights)

    def describe(self) -> str:
        if self.kind == "step":
            return f"{STEP[0]}x from night {STEP[1]}"
        rate, first, nights = CREEP
        return f"{rate:.0%} a night from night {first} over {nights} nights ({(1 + rate) ** nights:.3f}x at the end)"


def _shift(stamp: str | None, days: int) -> str | None:
    return None if stamp is None else (datetime.fromisoformat(stamp) + timedelta(days=days)).isoformat()


def _scale(record: dict, factor: float) -> dict:
    timing = dict(record["timing"])
    for key in ("median_s", "min_s", "mean_s", "stddev_s"):
        if isinstance(timing.get(key), (int, float)):
            timing[key] *= factor
    if timing.get("rounds_s"):
        timing["rounds_s"] = [r * factor for r in timing["rounds_s"]]
    metrics = dict(record["metrics"])
    measured = timing.get("measures", "inference_s")
    if isinstance(metrics.get(measured), (int, float)):
        metrics[measured] *= factor
    return {**record, "timing": timing, "metrics": metrics}


def nights(runs: list[Path], plant: Plant | None = None) -> list[list[dict]]:
    """The runs' records as nights 1..N (dicts, copies), with ``plant`` applied."""
    out = []
    for k, folder in enumerate(runs, 1):
        night = []
        for record in history_store.read_run(folder):
            raw = asdict(record)
            days = k - len(runs)
            raw.update(
                git_commit=f"{record.git_commit[:7]}-night{k:02d}",
                started_at=_shift(raw["started_at"], days),
                finished_at=_shift(raw["finished_at"], days),
            )
            hit = plant is not None and (plant.case is None or plant.case == (record.study, record.case_id))
            night.append(_scale(raw, plant.factor(k)) if hit else raw)
        out.append(night)
    return out


def write_store(store: Path, runs: list[Path], plant: Plant | None = None) -> tuple[int, int]:
    """Append the nights to ``store`` through ``history add``; returns (records added, already there)."""
    added = there = 0
    planted = nights(runs, plant)
    cases = {(r["study"], r["case_id"]) for night in planted for r in night}
    if plant is not None and plant.case is not None and plant.case not in cases:
        raise history_store.HistoryError(f"--case {'/'.join(plant.case)}: no such case in the runs")
    with tempfile.TemporaryDirectory(prefix="history-noise-") as tmp:
        for k, night in enumerate(planted, 1):
            folder = Path(tmp) / f"night{k:02d}"
            for record in night:
                path = folder / record["study"] / f"{record['case_id']}-seed{record['seed']}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(record))
            a, t = history_store.add(store, folder)
            added, there = added + a, there + t
    return added, there


def history(runs: list[Path], plant: Plant | None = None) -> list[Series]:
    """The nights' series, read back from a store as ``history show`` reads it."""
    with tempfile.TemporaryDirectory(prefix="history-noise-") as tmp:
        path = Path(tmp) / "history.sqlite"
        write_store(path, runs, plant)
        return series_of(history_store.load(path))


def prefix(series: Series, nights: int) -> Series:
    return Series(**{**series.__dict__, "points": series.points[series.points["run"] < nights]})


def flagged(series: Series, penalty: float = PENALTY) -> list[tuple[int, ChangePoint]]:
    """(night, change point) for each new change point toward worse, night by night."""
    out = []
    for n in range(1, len(series.points) + 1):
        out += [(n, p) for p in with_newness(prefix(series, n), n - 1, penalty) if p.new and p.direction == "worse"]
    return out


def noise_floor(series: list[Series]) -> float:
    """1.4826 x the median absolute deviation of the probe-normalised log time levels around
    each series' own median, pooled over the time series: the spread one night has."""
    deviations = []
    for s in series:
        if s.kind == "time":
            levels = np.log(s.points["level"].to_numpy(float))
            deviations += list(levels - np.median(levels))
    return float(1.4826 * np.median(np.abs(deviations))) if deviations else float("nan")


def _night_of(series: Series, commit: str) -> int:
    return int(series.points.loc[series.points["git_commit"] == commit, "run"].iloc[0]) + 1


def _false_alarms(base: list[Series], penalty: float) -> tuple[int, list[int]]:
    """Change points in any prefix of the unplanted history, and the nights that would exit 1."""
    found, failing = 0, set()
    for s in base:
        for n in range(1, len(s.points) + 1):
            points = with_newness(prefix(s, n), n - 1, penalty)
            found += len(points)
            failing |= {n for p in points if p.new and p.direction == "worse"}
    return found, sorted(failing)


def _timed_cases(base: list[Series]) -> list[tuple[str, str]]:
    return sorted({(s.study, s.case_id) for s in base if s.kind == "time"})


def _trial(runs: list[Path], plant: Plant, penalties: tuple[float, ...]) -> dict:
    """Per penalty: the planted case's change points in the full history, and the nights flagged."""
    (planted,) = [s for s in history(runs, plant) if s.kind == "time" and (s.study, s.case_id) == plant.case]
    return {pen: (change_points(planted, pen), flagged(planted, pen), planted) for pen in penalties}


def measure(runs: list[Path], penalties: tuple[float, ...] = PENALTIES) -> dict:
    penalties = tuple(sorted({*penalties, PENALTY}))
    base = history(runs)
    cases = _timed_cases(base)
    trials = {kind: {case: _trial(runs, Plant(kind, case), penalties) for case in cases} for kind in ("step", "creep")}
    return {
        "nights": len(runs),
        "base": base,
        "floor": noise_floor(base),
        "false_alarms": {pen: _false_alarms(base, pen) for pen in penalties},
        "trials": trials,
        "penalties": penalties,
    }


def _step_at_other_nights(runs: list[Path], cases: list[tuple[str, str]]) -> pd.DataFrame:
    """Steps of several sizes from every night with two nights on each side: found at that night?"""
    rows = []
    base = {(s.study, s.case_id): s for s in history(runs) if s.kind == "time"}
    for case in cases:
        s = base[case]
        for factor in OTHER_STEPS:
            for first in range(3, len(runs)):
                points = s.points.copy()
                scale = np.where(points["run"] >= first - 1, factor, 1.0)
                points["level"] *= scale
                points["raw"] *= scale
                found = change_points(Series(**{**s.__dict__, "points": points}))
                rows.append({"factor": factor, "night": first, "exact": any(p.run == first - 1 for p in found)})
    return pd.DataFrame(rows)


def markdown(runs: list[Path], result: dict) -> str:
    base, nights_ = result["base"], result["nights"]
    fa, failing = result["false_alarms"][PENALTY]
    timed = [s for s in base if s.kind == "time"]
    lines = [
        f"{nights_} same-commit runs as {nights_} nights (copies, each night its own synthetic commit "
        f"`<commit>-nightNN` and run date; {len(timed)} time series and {len(base) - len(timed)} accuracy series). "
        f"Detection: ruptures PELT, penalty {PENALTY:g}, noise floor {TIME_NOISE} (log time).",
        "",
        f"- Measured noise floor (1.4826 x MAD of the probe-normalised log time levels around each series' median, "
        f"pooled): **{result['floor']:.3f}**",
        f"- Change points in the {nights_}-night history and in every prefix of it (nights 1..n, n = 1..{nights_}, as "
        f"the nightly judges each night): **{fa}**; nights on which `history show` exits 1: "
        f"**{', '.join(map(str, failing)) or 'none'}**",
        "",
        "| planted into one case's timed rounds | case | change point(s) in the full history (ratio) "
        "| `history show` exits 1 on night (naming the range) |",
        "|---|---|---|---|",
    ]
    for kind in ("step", "creep"):
        for case, by_penalty in result["trials"][kind].items():
            found, flags, planted = by_penalty[PENALTY]
            where = ", ".join(
                f"night {_night_of(planted, p.commit)} `{p.commit}` {p.direction} ({p.ratio:.3f}x)" for p in found
            )
            nights_flagged = ", ".join(f"{n} (`{p.previous_commit}..{p.commit}`)" for n, p in flags) or "never"
            lines.append(
                f"| {Plant(kind, case).describe()} | {case[0]}/{case[1]} | {where or 'none'} | {nights_flagged} |"
            )
    steps = _step_at_other_nights(runs, _timed_cases(base))
    lines += [
        "",
        f"A step of one case from night k (k = 3..{nights_ - 1}, the full {nights_}-night history), found at "
        "night k's commit:",
        "",
        "| step | found at its night |",
        "|---|---:|",
    ]
    for factor, group in steps.groupby("factor"):
        lines.append(f"| {factor}x | {int(group['exact'].sum())} of {len(group)} |")
    step_night = STEP[1]
    lines += [
        "",
        "Other penalties (the same trials):",
        "",
        "| penalty | change points in the noise prefixes | nights exiting 1 "
        f"| {STEP[0]}x step found at night {step_night} | creep found | creep first flagged on night (cases above) |",
        "|---:|---:|---|---:|---:|---|",
    ]
    for pen in result["penalties"]:
        fa_pen, failing_pen = result["false_alarms"][pen]
        step_hits = sum(
            any(_night_of(t[pen][2], p.commit) == step_night and p.direction == "worse" for p in t[pen][0])
            for t in result["trials"]["step"].values()
        )
        creep = result["trials"]["creep"].values()
        creep_hits = sum(any(p.direction == "worse" for p in t[pen][0]) for t in creep)
        firsts = [min((n for n, _ in t[pen][1]), default=None) for t in creep]
        first_text = ", ".join(str(f) if f else "never" for f in firsts)
        mark = "**" if pen == PENALTY else ""
        lines.append(
            f"| {mark}{pen:g}{mark} | {fa_pen} | {', '.join(map(str, failing_pen)) or 'none'} "
            f"| {step_hits} of {len(result['trials']['step'])} | {creep_hits} of {len(creep)} | {first_text} |"
        )
    return "\n".join(lines) + "\n"
