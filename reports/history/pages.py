"""``history show``: a Markdown page per study, small-multiple figures, and the change points as JSON.

Everything is computed and drawn in memory first and then written file by file, each
atomically (``harness.fileio``), so bad input leaves no output behind and a reader never
sees half a file. The figures are byte-stable (no timestamps in the PNGs).
"""

from __future__ import annotations

import io
import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from harness.fileio import atomic_write_bytes
from reports.history.detect import MIN_SIZE, PENALTY, ChangePoint, with_newness
from reports.history.series import Series, runs_of, series_of

MAX_CASE_PANELS = 16  # more cases than this in a study: one panel per threshold group
PANELS_PER_FIGURE = 24
COLUMNS = 4
KINDS = {
    "time": "time (seconds, median of the timed rounds as measured)",
    "accuracy": "accuracy (mean over seeds)",
}
YLABELS = {"time": "seconds", "accuracy": "accuracy"}
RULE = (
    "exits 1 when a change point toward worse is new with the newest run: it lies in a series "
    "(case, metric, machine fingerprint, precision) whose last run is the store's newest run, and "
    "the same series without that run has no change point in the same direction at that run or "
    "one either side"
)


@dataclass
class Analysis:
    runs: pd.DataFrame  # run, git_commit, run_date (oldest first)
    series: list[Series]
    change_points: list[ChangePoint]

    @property
    def newest(self) -> pd.Series:
        return self.runs.iloc[-1]

    @property
    def failing(self) -> list[ChangePoint]:
        return [p for p in self.change_points if p.direction == "worse" and p.new]


def analyse(frame: pd.DataFrame, penalty: float = PENALTY) -> Analysis:
    runs = runs_of(frame)
    series = series_of(frame)
    newest = int(runs["run"].iloc[-1])
    points = [p for s in series for p in with_newness(s, newest, penalty)]
    return Analysis(runs, series, sorted(points, key=lambda p: (p.study, p.case_id, p.metric, p.run)))


def _short(commit: str) -> str:
    """A git hash as its first 7 digits (``-dirty`` kept); other names (synthetic nights) as they are."""
    sha, dirty = commit.removesuffix("-dirty"), commit.endswith("-dirty")
    return sha[:7] + ("-dirty" if dirty else "") if len(sha) == 40 else commit


def _ratio(value: float) -> str:
    return f"{value:.3f}x"


def _level(kind: str, value: float) -> str:
    return f"{value:.4g} s" if kind == "time" else f"{value:.4f}"


def change_point_rows(points: list[ChangePoint]) -> list[str]:
    lines = [
        "| case | metric | machine / precision | happened in | first run on the new level | direction | ratio "
        "| raw ratio | before → after | new with the newest run |",
        "|---|---|---|---|---|---|---:|---:|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.study}/{p.case_id} | {p.metric} | `{p.fingerprint}` / {p.precision} "
            f"| `{_short(p.previous_commit)}..{_short(p.commit)}` | `{_short(p.commit)}` ({p.run_date}) "
            f"| **{p.direction}** | {_ratio(p.ratio)} | {_ratio(p.raw_ratio)} "
            f"| {_level(p.kind, p.before)} → {_level(p.kind, p.after)} | {'**yes**' if p.new else 'no'} |"
        )
    return lines


# ---- figures ------------------------------------------------------------------------------


@dataclass
class Panel:
    title: str
    series: list[Series]  # one or more (a group panel holds every case of the group)
    relative: bool  # a group panel: each case relative to its own median


def panels(study_series: list[Series], kind: str) -> list[Panel]:
    chosen = [s for s in study_series if s.kind == kind]
    cases = sorted({s.case_id for s in chosen})
    by_item: dict[tuple, list[Series]] = {}
    grouped = len(cases) > MAX_CASE_PANELS and all(s.group for s in chosen)
    for s in chosen:
        item = (s.group if grouped else s.case_id, s.metric)
        by_item.setdefault(item, []).append(s)
    out = []
    for (name, metric), members in sorted(by_item.items()):
        if grouped:
            n = len({s.case_id for s in members})
            title = f"{name} · {metric}\n{n} cases, each relative to its median (no band)"
        else:
            title = f"{name} · {metric}"
        out.append(Panel(title, members, grouped))
    return out


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def draw(
    group: list[Panel], runs: pd.DataFrame, points: list[ChangePoint], machines: list[str], title: str, ylabel: str
) -> bytes:
    """Small multiples: one panel per case (or group), one line per machine / precision."""
    columns = min(COLUMNS, len(group))
    rows = math.ceil(len(group) / columns)
    width = max(3.4 * columns, 7.0)
    fig, axes = plt.subplots(rows, columns, figsize=(width, 2.5 * rows + 1.5), squeeze=False, layout="constrained")
    colour = {m: f"C{i % 10}" for i, m in enumerate(machines)}
    step = max(1, math.ceil(len(runs) / 10))
    ticks = runs["run"].to_numpy()[::step]
    labels = [_short(c) for c in runs["git_commit"].to_numpy()[::step]]
    for ax, panel in zip(axes.flat, group, strict=False):
        spans = set()  # (from, to, direction): a group panel marks each span once
        for s in panel.series:
            x = s.points["run"].to_numpy(float)
            y = s.points["raw"].to_numpy(float)
            low, high = s.points["low"].to_numpy(float), s.points["high"].to_numpy(float)
            scale = float(np.median(y)) if panel.relative else 1.0
            line = 0.8 if panel.relative else 1.2
            ax.plot(
                x, y / scale, marker="o", ms=2.5, lw=line, color=colour[s.machine], alpha=0.6 if panel.relative else 1
            )
            if np.isfinite(low).any() and not panel.relative:  # a group's bands would hide its lines
                ax.fill_between(x, low / scale, high / scale, color=colour[s.machine], alpha=0.2, lw=0)
            mine = [p for p in points if (p.study, p.case_id, p.metric) == (s.study, s.case_id, s.metric)]
            for p in (p for p in mine if f"{p.fingerprint} / {p.precision}" == s.machine):
                before = x[x < p.run]
                spans.add((float(before[-1]) if len(before) else p.run - 0.5, float(p.run), p.direction))
        for start, end, direction in sorted(spans):
            colour_of = "red" if direction == "worse" else "green"
            ax.axvspan(start, end, color=colour_of, alpha=0.18, lw=0)
            ax.axvline(end, color=colour_of, lw=0.8, ls="--")
        ax.set_title(panel.title, fontsize=7.5)
        if ax in axes[:, 0]:
            ax.set_ylabel(ylabel, fontsize=7)
        ax.set_xlim(runs["run"].min() - 0.5, runs["run"].max() + 0.5)
        ax.set_xticks(ticks, labels, rotation=90, fontsize=6)
        ax.tick_params(axis="y", labelsize=6.5)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(group) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=colour[m], marker="o", ms=3, label=m) for m in machines]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(3, len(handles)),
        fontsize=7,
        title="machine fingerprint / precision",
        title_fontsize=7,
    )
    fig.suptitle("\n".join(textwrap.wrap(title, int(width * 12))), fontsize=8.5)
    return _png(fig)


def _figure_title(
    study: str, kind: str, series: list[Series], runs: pd.DataFrame, n_panels: int, part: str, relative: bool
) -> str:
    seeds = int(max(s.points["seeds"].max() for s in series if len(s.points)))
    dates = f"{runs['run_date'].iloc[0][:10]} to {runs['run_date'].iloc[-1][:10]}"
    band = f"band: the seeds' range ({seeds} seeds)" if seeds > 1 else "1 seed a run (no band)"
    if relative:
        band = f"a panel per threshold group, a line per case relative to its median ({seeds} seed(s) a run, no band)"
    return (
        f"{study}: {KINDS[kind]}{part}, {n_panels} panel(s), {len(runs)} runs ({dates}) ordered by run date, "
        f"x: commit; one line per machine fingerprint / precision; {band}; red span: a change toward worse "
        "between the two runs shown, green: toward better"
    )


# ---- pages --------------------------------------------------------------------------------


def study_page(study: str, analysis: Analysis, store: Path) -> tuple[str, dict[str, bytes]]:
    """The study's Markdown and its figures (name -> PNG bytes, plus a CSV of each figure's points)."""
    series = [s for s in analysis.series if s.study == study]
    points = [p for p in analysis.change_points if p.study == study]
    used = sorted({r for s in series for r in s.points["run"]})
    runs = analysis.runs[analysis.runs["run"].isin(used)]
    machines = sorted({s.machine for s in series})
    newest = analysis.newest
    lines = [
        f"# History: {study}",
        "",
        f"Store `{store}`: {len(runs)} run(s) with records of this study, {runs['run_date'].iloc[0]} to "
        f"{runs['run_date'].iloc[-1]}, ordered by run date. The store's newest run: `{_short(newest['git_commit'])}` "
        f"({newest['run_date']}). {len(series)} series (per case, metric, machine fingerprint and precision); "
        f"machines: {', '.join(f'`{m}`' for m in machines)}.",
        "",
        "## Change points",
        "",
    ]
    if points:
        lines += change_point_rows(points)
    else:
        lines.append("No change point in any series of this study.")
    lines += [
        "",
        f"Found with ruptures' PELT (penalty {PENALTY:g} in units of the series' noise squared, at least {MIN_SIZE} "
        "runs a level) on the probe-normalised log times and on the accuracies; a time change must show in the "
        "raw times too. *happened in* is the commit range `last run on the old level..first run on the new`; "
        "*ratio* is new level / old (time: probe-normalised; accuracy: as measured). Rules and the noise they "
        'are tuned on: docs/gate.md, section "History".',
        "",
    ]
    files: dict[str, bytes] = {}
    for kind in KINDS:
        chosen = panels(series, kind)
        if not chosen:
            continue
        lines += [f"## {kind.capitalize()}", ""]
        parts = [chosen[i : i + PANELS_PER_FIGURE] for i in range(0, len(chosen), PANELS_PER_FIGURE)]
        for number, part in enumerate(parts, 1):
            label = f" (part {number} of {len(parts)})" if len(parts) > 1 else ""
            kind_series = [s for panel in part for s in panel.series]
            relative = part[0].relative
            title = _figure_title(study, kind, kind_series, runs, len(part), label, relative)
            name = f"figures/{study}-{kind}-{number}.png"
            ylabel = "relative to the case's median" if relative else YLABELS[kind]
            files[name] = draw(part, runs, points, machines, title, ylabel)
            table = pd.concat(
                [s.points.assign(case_id=s.case_id, metric=s.metric, machine=s.machine) for s in kind_series]
            )
            files[name.removesuffix(".png") + ".csv"] = table.to_csv(index=False, float_format="%.6g").encode()
            lines += [f"![{study} {kind}{label}]({name})", "", f"*{title}.*", ""]
    return "\n".join(lines), files


def index_page(analysis: Analysis, store: Path, studies: list[str]) -> str:
    newest = analysis.newest
    failing = analysis.failing
    lines = [
        "# History",
        "",
        f"Store `{store}`: {len(analysis.runs)} run(s), {analysis.runs['run_date'].iloc[0]} to "
        f"{newest['run_date']}; newest: `{_short(newest['git_commit'])}`.",
        "",
        f"**{len(failing)} new change point(s) toward worse** with the newest run; "
        f"{len(analysis.change_points)} change point(s) in all. `history show` {RULE}.",
        "",
    ]
    if failing:
        lines += [*change_point_rows(failing), ""]
    lines += ["| study | series | change points (worse) | page |", "|---|---:|---:|---|"]
    for study in studies:
        mine = [p for p in analysis.change_points if p.study == study]
        worse = sum(p.direction == "worse" for p in mine)
        count = sum(s.study == study for s in analysis.series)
        lines.append(f"| {study} | {count} | {len(mine)} ({worse}) | [{study}.md]({study}.md) |")
    return "\n".join(lines) + "\n"


def change_points_json(analysis: Analysis, store: Path) -> str:
    newest = analysis.newest
    payload = {
        "store": str(store),
        "newest_run": {"commit": newest["git_commit"], "run_date": newest["run_date"]},
        "rule": RULE,
        "change_points": [p.as_json() for p in analysis.change_points],
    }
    return json.dumps(payload, indent=1) + "\n"


def render(analysis: Analysis, store: Path, out: Path, json_path: Path | None) -> list[Path]:
    """Build every page and figure in memory, then write them; returns the paths written."""
    studies = sorted({s.study for s in analysis.series})
    files: dict[Path, bytes] = {out / "index.md": index_page(analysis, store, studies).encode()}
    for study in studies:
        text, figures = study_page(study, analysis, store)
        files[out / f"{study}.md"] = (text.rstrip("\n") + "\n").encode()
        files.update({out / name: data for name, data in figures.items()})
    if json_path is not None:
        files[json_path] = change_points_json(analysis, store).encode()
    for path, data in files.items():
        atomic_write_bytes(path, data)
    return list(files)
