"""Change points in a series, found by ruptures, tuned on the measured noise.

The library: ruptures (Truong, Oudre and Vayatis; BSD-2), PELT with the ``l2`` cost (a change in
the mean) and a penalty per change point. It needs only numpy and scipy, which the reporter has
already. apache-otava (e-divisive with a significance test) would bring a pinned numpy 2.2 and
scipy 1.16, BigQuery, Postgres and Slack clients and a YAML configuration; MongoDB's
signal-processing-algorithms (the same e-divisive) supports one Python minor version and
numpy < 2 and brings gevent. Neither installs beside this project's numpy.

The signal: a time series' probe-normalised levels on a log scale (a step is a ratio),
an accuracy series' levels as they are. It is standardised by the series' own noise: the
median absolute deviation of run-to-run differences (a step or a steady creep leaves most
differences alone) times 1.4826 / sqrt(2), but never below a floor: ``TIME_NOISE``, the
robust spread of the probe-normalised log levels in the ten same-commit one-thread runs
(docs/gate.md; ``python -m reports history noise`` measures it, a test recomputes it), and
``ACC_NOISE`` for accuracy, whose same-commit runs on the CPU are identical (no noise to
measure): half the judge's margin, so a drop of 1.25 points sustained over five of ten runs
is found and one of half a point is not (tested).

PELT places change points where the squared-error reduction exceeds ``PENALTY`` (in units of
that noise squared), each level at least ``MIN_SIZE`` runs long. Where the newest level is
that short, PELT may have started it a run early: a run nearer the old level than the runs
after it goes back to the old one, so a large step can be flagged the night it happens, at
its own commit, and a smaller one waits for its second night (the pairwise gate judges a
single night). ``PENALTY`` has margin on both sides in the sweep of docs/gate.md: no change
point in any prefix of the ten noise runs from penalty 6 upwards, and the planted 1.3x steps
and 3 %-per-night creeps all found up to 50.

A change point of a time series also has to show in the raw times over the same segments,
in the same direction and at least half as large (on the log scale): the probe may excuse a
slower night (a slower host, every time scaled alike), never accuse a normal one, as in the
pairwise gate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import ruptures

from harness import judge
from reports.history.series import Series

PENALTY = 15.0
MIN_SIZE = 2
TIME_NOISE = 0.024  # log units: measured, python -m reports history noise (docs/gate.md)
ACC_NOISE = judge.MARGIN / 2  # accuracy units: chosen, the CPU's same-commit runs do not vary


@dataclass(frozen=True)
class ChangePoint:
    study: str
    case_id: str
    metric: str
    kind: str
    fingerprint: str
    precision: str
    commit: str  # the first run on the new level
    previous_commit: str  # the last run on the old level: the change happened in previous_commit..commit
    run_date: str
    direction: str  # "worse" or "better"
    ratio: float  # new level / old level (time: probe-normalised)
    raw_ratio: float  # the same on the values as measured
    before: float  # the old and new levels as measured (median over their runs)
    after: float
    run: int  # the store's run index of ``commit``
    new: bool = False  # found with the newest run of the store, and not without it

    def as_json(self) -> dict:
        return asdict(self)


def robust_noise(values: np.ndarray) -> float:
    """The run-to-run noise of a series: MAD of its first differences, as a standard deviation."""
    if len(values) < 3:
        return 0.0
    differences = np.diff(values)
    return float(1.4826 * np.median(np.abs(differences - np.median(differences))) / math.sqrt(2))


def signal(series: Series) -> np.ndarray:
    levels = series.points["level"].to_numpy(float)
    return np.log(levels) if series.kind == "time" else levels


def floor(kind: str) -> float:
    return TIME_NOISE if kind == "time" else ACC_NOISE


def breakpoints(values: np.ndarray, noise_floor: float, penalty: float = PENALTY) -> list[int]:
    """Indices of the first point of each new level (none for fewer than 2 * MIN_SIZE points)."""
    if len(values) < 2 * MIN_SIZE:
        return []
    sigma = max(robust_noise(values), noise_floor)
    z = ((values - np.median(values)) / sigma).reshape(-1, 1)
    found = [int(b) for b in ruptures.Pelt(model="l2", min_size=MIN_SIZE, jump=1).fit(z).predict(pen=penalty)[:-1]]
    if found and found[-1] == len(values) - MIN_SIZE:
        # The newest level is as short as a segment may be, so PELT may have had to start it
        # early: a run closer to the old level than to the runs after it moves back to the old.
        start = found[-2] if len(found) > 1 else 0
        old = np.median(values[start : found[-1]])
        while found[-1] < len(values) - 1:
            at, rest = values[found[-1]], np.median(values[found[-1] + 1 :])
            if abs(at - old) >= abs(at - rest):
                break
            found[-1] += 1
    return found


def change_points(series: Series, penalty: float = PENALTY) -> list[ChangePoint]:
    """The change points of a series, each with its direction and size."""
    if not series.judged:
        return []
    values = signal(series)
    found = breakpoints(values, floor(series.kind), penalty)
    points = series.points
    edges = [0, *found, len(points)]
    out = []
    for k in range(1, len(edges) - 1):
        start, at, end = edges[k - 1], edges[k], edges[k + 1]
        old, new = points.iloc[start:at], points.iloc[at:end]
        ratio = float(new["level"].median() / old["level"].median())
        raw_ratio = float(new["raw"].median() / old["raw"].median())
        if series.kind == "time":
            confirmed = np.sign(math.log(raw_ratio)) == np.sign(math.log(ratio)) and abs(math.log(raw_ratio)) >= (
                abs(math.log(ratio)) / 2
            )
            if not confirmed:
                continue
            worse = ratio > 1
        else:
            worse = ratio < 1
        out.append(
            ChangePoint(
                study=series.study,
                case_id=series.case_id,
                metric=series.metric,
                kind=series.kind,
                fingerprint=series.fingerprint,
                precision=series.precision,
                commit=str(points["git_commit"].iloc[at]),
                previous_commit=str(points["git_commit"].iloc[at - 1]),
                run_date=str(points["run_date"].iloc[at]),
                direction="worse" if worse else "better",
                ratio=ratio,
                raw_ratio=raw_ratio,
                before=float(old["raw"].median()),
                after=float(new["raw"].median()),
                run=int(points["run"].iloc[at]),
            )
        )
    return out


def _known(point: ChangePoint, earlier: list[ChangePoint]) -> bool:
    return any(e.direction == point.direction and abs(e.run - point.run) <= 1 for e in earlier)


def with_newness(series: Series, newest_run: int, penalty: float = PENALTY) -> list[ChangePoint]:
    """The series' change points, ``new`` set on those that its last run, the store's newest,
    brought: the same series without that run has none in the same direction at that run or
    one either side."""
    found = change_points(series, penalty)
    if series.points.empty or int(series.points["run"].iloc[-1]) != newest_run:
        return found
    before = Series(**{**series.__dict__, "points": series.points.iloc[:-1]})
    earlier = change_points(before, penalty)
    return [ChangePoint(**{**p.__dict__, "new": not _known(p, earlier)}) for p in found]
