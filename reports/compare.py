"""``python -m reports compare BASELINE CURRENT``: did this run get worse than the last good one?

Cases are matched by study and case id; each side pools the seeds it has. A case regresses when

- **accuracy**: an asserted metric's mean drops by more than the baseline's seed-to-seed
  range for that case (else the widest range in its threshold group, else in its study,
  else the judge's ``MARGIN``), and, when the current run has two or more seeds, a
  one-sided t-test agrees at ``ACC_ALPHA`` (Welch's against the baseline's seeds, or a
  one-sample test against a one-seed baseline), as MLPerf's convergence check does;
- **time**: the current run is slower by more than ``TIME_BOUND`` both as measured and after
  dividing by how fast each host was at the time (the ratio of the records' matmul probes,
  ``harness/probe.py``), and a one-sided Mann-Whitney U test over the timed rounds, each
  divided by its record's probe, is significant at ``TIME_ALPHA``. Times are compared only between records of equal
  machine fingerprint and precision; otherwise the case gets a "not comparable" line. A
  uniformly slower host (every time, probe included, scaled alike) is not a regression;
- **instructions** (study ``perf_instructions``): callgrind's count of one training step or
  inference batch rose by more than ``INSTRUCTION_BOUND``, between records of equal
  ``instructions.identity`` (valgrind, torch, Python, SIMD level, threads) on any host, with no
  probe: a count does not depend on how busy or fast the host is. The row names the functions
  whose counts grew most;
- **seeds converged** (a seed-gated, unstable group: ``SeedGate`` in the study's profile):
  fewer than the rule's ``need`` of the current run's seeds 0 .. ``of`` - 1 reached its bar.
  Such a case's mean accuracy is not compared (one collapsed seed moves it by half); with
  fewer seeds than the rule counts, the row says it was not judged;
- **status**: it passed in the baseline and did not pass now (failed, error, diverged, oom).

The perf study's asserted metrics are speed ratios measured within one process, not
accuracies: they are gated through the status (a ratio below its minimum fails the case) and
the time rule, not the accuracy rule.

Schema-1 records (no timed rounds, fingerprint or probe) are compared on accuracy and
status; their times are listed as not gated. ``docs/gate.md`` has the noise measurements
the bound and alphas come from. Writes Markdown (``--out`` or stdout) and, with ``--json``,
one entry per compared case and metric. Exits 1 on a regression, 0 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from harness import judge
from reports.load import collect_and_warn, precision
from reports.load import measured as is_measured
from reports.render import md_table
from reports.stats import relative_spread, seeds_reached
from studies import STUDIES

ACC_ALPHA = 0.05
# From ten same-commit runs in separate processes on this project's CPU, one torch thread
# (docs/gate.md): the smallest bound without a false alarm among their 360 comparisons.
TIME_BOUND = 0.15
TIME_ALPHA = 0.01
# From 5+ same-commit runs of every perf_instructions case in separate processes (docs/gate.md).
INSTRUCTION_BOUND = 0.005
GROWN_FUNCTIONS = 3  # functions named in an instruction regression's row
PROBE = "environment.probe"
# The probe workloads that stand for the host's speed. The conv net forward is recorded but
# left out: it reacts to a busy moment of the host far more than any case (1.8x where the
# cases moved a few percent, docs/gate.md), which turned the host ratio into noise and
# excused real slowdowns.
HOST_SPEED_KEYS = ("matmul_s",)
MACHINE_STUDIES = {name for name, study in STUDIES.items() if study.run_alone}
COLUMNS = [
    "study",
    "case_id",
    "metric",
    "kind",
    "baseline",
    "current",
    "change",
    "allowed",
    "ratio",
    "p_value",
    "verdict",
    "why",
]


@dataclass
class Comparison:
    table: pd.DataFrame  # one row per (case, metric) compared, COLUMNS
    notes: list[str]

    @property
    def regressions(self) -> pd.DataFrame:
        return self.table[self.table["verdict"] == "REGRESSION"]


def load_side(paths: list[Path], side: str) -> pd.DataFrame:
    collection = collect_and_warn(paths, side)
    if collection.frame.empty:
        raise ValueError(f"{side}: no result records in {', '.join(map(str, paths))}")
    return collection.frame


def _thresholded(frame: pd.DataFrame) -> dict[str, list[str]]:
    """study -> the metrics its cases assert (the columns ``thresholds.<metric>``)."""
    out = {}
    for study, group in frame.groupby("study"):
        out[study] = sorted(
            c.removeprefix("thresholds.")
            for c in group.columns
            if c.startswith("thresholds.") and group[c].notna().any()
        )
    return out


def _ranges(frame: pd.DataFrame, column: str) -> pd.Series:
    """max - min of ``column`` per case, for cases with two or more values."""
    return frame.groupby("case_id")[column].agg(lambda s: s.max() - s.min() if s.count() > 1 else np.nan).dropna()


def _tolerance(base: pd.DataFrame, case_id: str, column: str, ranges: pd.Series) -> tuple[float, str]:
    if case_id in ranges.index:
        return float(ranges[case_id]), "the case's seed range"
    if "params.threshold_group" in base:
        group = base.loc[base["case_id"] == case_id, "params.threshold_group"].dropna()
        if len(group):
            members = base.loc[base["params.threshold_group"] == group.iloc[0], "case_id"].unique()
            in_group = ranges[ranges.index.isin(members)]
            if len(in_group):
                return float(in_group.max()), f"seed range of group {group.iloc[0]}"
    if len(ranges):
        return float(ranges.max()), "widest seed range in the study"
    return judge.MARGIN, "default (no case has two seeds)"


def _drop_p(before: np.ndarray, after: np.ndarray) -> float | None:
    """One-sided p that ``after`` is lower; None when the current run has one seed."""
    if len(after) < 2:
        return None
    if len(before) >= 2:
        p = stats.ttest_ind(before, after, equal_var=False, alternative="greater").pvalue
    else:
        p = stats.ttest_1samp(after, before[0], alternative="less").pvalue
    # Identical seeds on both sides leave no variance: the drop is then certain, not untestable.
    return 0.0 if math.isnan(p) else float(p)


def _accuracy_rows(base, cur, study, metric, acc_tolerance) -> list[dict]:
    column = f"metrics.{metric}"
    if column not in base or column not in cur:
        return []
    b, c = base[is_measured(base)], cur[is_measured(cur)]
    ranges = _ranges(b, column)
    rows = []
    for case_id in sorted((set(b["case_id"]) & set(c["case_id"])) - _seed_gated(base) - _seed_gated(cur)):
        before = b.loc[b["case_id"] == case_id, column].dropna().to_numpy(float)
        after = c.loc[c["case_id"] == case_id, column].dropna().to_numpy(float)
        if not len(before) or not len(after):
            continue
        if acc_tolerance is not None:
            tolerance, source = acc_tolerance, "--acc-tolerance"
        else:
            tolerance, source = _tolerance(b, case_id, column, ranges)
        drop = before.mean() - after.mean()
        p = _drop_p(before, after)
        worse = drop > tolerance and (p is None or p < ACC_ALPHA)
        why = f"tolerance: {source}; {len(before)} vs {len(after)} seed(s)"
        if drop > tolerance and not worse:
            why += f"; drop not significant (p {p:.3f} >= {ACC_ALPHA})"
        rows.append(
            _row(
                study,
                case_id,
                metric,
                "accuracy" if worse else "ok",
                before.mean(),
                after.mean(),
                -drop,
                f"-{tolerance:.4f}",
                None,
                p,
                worse,
                why,
            )
        )
    return rows


def _seed_gated(frame: pd.DataFrame) -> set[str]:
    if "seed_gate.metric" not in frame:
        return set()
    return set(frame.loc[frame["seed_gate.metric"].notna(), "case_id"])


def _seed_gate_rows(base, cur, study) -> list[dict]:
    rows = []
    for case_id in sorted(_seed_gated(cur)):
        reached, counted, rule = seeds_reached(cur[cur["case_id"] == case_id])
        need, of = int(rule["seed_gate.need"]), int(rule["seed_gate.of"])
        before = ""
        if case_id in _seed_gated(base):
            k, n, _ = seeds_reached(base[base["case_id"] == case_id])
            before = f"{k} of {n}"
        judged = counted >= of
        worse = judged and reached < need
        why = f"seeds 0-{of - 1} reaching {rule['seed_gate.bar']:.2f}"
        if not judged:
            why = f"not judged: {counted} of seeds 0-{of - 1} ran; the rule counts {of}"
        metric = f"{rule['seed_gate.metric']} seeds >= {rule['seed_gate.bar']:.2f}"
        kind = "accuracy" if worse else "ok"
        rows.append(
            _row(
                study,
                case_id,
                metric,
                kind,
                before,
                f"{reached} of {counted}",
                "",
                f">= {need} of {of}",
                None,
                None,
                worse,
                why,
            )
        )
    return rows


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


def _one(values: pd.Series) -> str | None:
    distinct = set(values.dropna())
    return distinct.pop() if len(distinct) == 1 else None


def _timed(frame: pd.DataFrame, host_keys: tuple[str, ...]) -> pd.DataFrame:
    """The measured records with their rounds, host speed and precision beside them."""
    ok = frame[is_measured(frame)]
    return ok.assign(_rounds=_rounds(ok), _host=host_seconds(ok, host_keys), _precision=precision(ok))


def _normalised(side: pd.DataFrame) -> np.ndarray:
    """Every timed round of a side, each divided by its own record's host speed."""
    return np.concatenate([np.asarray(r) / h for r, h in zip(side["_rounds"], side["_host"], strict=True)])


def _time_rows(base, cur, study, bound, alpha, host_keys) -> list[dict]:
    b, c = _timed(base, host_keys), _timed(cur, host_keys)
    rows = []
    for case_id in sorted(set(b["case_id"]) & set(c["case_id"])):
        before, after = b[b["case_id"] == case_id], c[c["case_id"] == case_id]
        metric = _one(pd.concat([before, after]).get("timing.measures", pd.Series(dtype=object))) or "inference_s"
        reason = _not_comparable(before, after)
        if reason:
            rows.append(_row(study, case_id, metric, "not_comparable", None, None, "", "", None, None, False, reason))
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
        rows.append(
            _row(
                study,
                case_id,
                metric,
                "time" if worse else "ok",
                raw_b,
                raw_c,
                f"{ratio - 1:+.1%}",
                f"+{bound:.0%}",
                ratio,
                p,
                worse,
                why,
            )
        )
    return rows


def _timed_on_every_core(frame: pd.DataFrame) -> int:
    """How many CPU records were timed with as many torch threads as the machine has cores."""
    columns = ["device", "environment.torch_threads", "environment.cpu_count", "timing.rounds_s"]
    if not all(c in frame.columns for c in columns):
        return 0
    timed = frame[frame["timing.rounds_s"].notna() & (frame["device"] == "cpu")]
    return int((timed["environment.torch_threads"] >= timed["environment.cpu_count"]).sum())


def _not_comparable(before: pd.DataFrame, after: pd.DataFrame) -> str | None:
    both = pd.concat([before, after])
    if both["_rounds"].isna().any() or both["_host"].isna().any():
        return "not gated: schema-1 record(s) without timed rounds and probe"
    prints = [_one(side.get("environment.fingerprint", pd.Series(dtype=object))) for side in (before, after)]
    if None in prints or prints[0] != prints[1]:
        return "not comparable (different machine: fingerprints differ)"
    kinds = [_one(side["_precision"]) for side in (before, after)]
    if None in kinds or kinds[0] != kinds[1]:
        return f"not comparable (different precision: {kinds[0] or 'mixed'} vs {kinds[1] or 'mixed'})"
    return None


def _instruction_rows(base, cur, study, bound) -> list[dict]:
    column = "instructions.total"
    if column not in base or column not in cur:
        return []
    b, c = (side[is_measured(side) & side[column].notna()] for side in (base, cur))
    rows = []
    for case_id in sorted(set(b["case_id"]) & set(c["case_id"])):
        before, after = b[b["case_id"] == case_id], c[c["case_id"] == case_id]
        identities = [_one(side["instructions.identity"]) for side in (before, after)]
        if None in identities or identities[0] != identities[1]:
            why = "not comparable (different valgrind, torch, Python, SIMD level or threads: identities differ)"
            rows.append(
                _row(study, case_id, "instructions", "not_comparable", None, None, "", "", None, None, False, why)
            )
            continue
        count_b, count_c = float(before[column].median()), float(after[column].median())
        ratio = count_c / count_b
        worse = ratio > 1 + bound
        spreads = f"{relative_spread(before[column]):.2e} vs {relative_spread(after[column]):.2e}"
        why = f"{len(before)} vs {len(after)} run(s); spread {spreads}"
        if ratio != 1:
            why += "; grew most: " + grown_functions(before, after)
        rows.append(
            _row(
                study,
                case_id,
                "instructions",
                "instructions" if worse else "ok",
                count_b,
                count_c,
                f"{ratio - 1:+.3%}",
                f"+{bound:.1%}",
                ratio,
                None,
                worse,
                why,
            )
        )
    return rows


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


def _status_rows(base, cur, study) -> list[dict]:
    passed_before = set(base.loc[base["status"] == "passed", "case_id"])
    latest = cur.groupby("case_id")["status"].agg(
        lambda s: "passed" if (s == "passed").all() else ", ".join(sorted(set(s) - {"passed"}))
    )
    return [
        _row(study, case_id, "status", "status", "passed", status, "", "passed", None, None, True, "stopped passing")
        for case_id, status in latest.items()
        if case_id in passed_before and status != "passed"
    ]


def _row(study, case_id, metric, kind, baseline, current, change, allowed, ratio, p, worse, why) -> dict:
    if isinstance(change, float):
        change = f"{change:+.4f}"
    return dict(
        zip(
            COLUMNS,
            [
                study,
                case_id,
                metric,
                kind,
                baseline,
                current,
                change,
                allowed,
                ratio,
                p,
                "REGRESSION" if worse else ("not comparable" if kind == "not_comparable" else "ok"),
                why,
            ],
            strict=True,
        )
    )


def compare(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    *,
    acc_tolerance: float | None = None,
    time_bound: float = TIME_BOUND,
    time_alpha: float = TIME_ALPHA,
    instruction_bound: float = INSTRUCTION_BOUND,
    host_keys: tuple[str, ...] = HOST_SPEED_KEYS,
) -> Comparison:
    notes, rows = [], []
    for study, metrics in _thresholded(baseline).items():
        base, cur = baseline[baseline["study"] == study], current[current["study"] == study]
        # A study that measures the machine asserts speed ratios, not accuracies: its thresholds
        # are gated through its status (a ratio below its minimum fails the case) and its time.
        for metric in [] if study in MACHINE_STUDIES else metrics:
            rows += _accuracy_rows(base, cur, study, metric, acc_tolerance)
        rows += [] if study in MACHINE_STUDIES else _seed_gate_rows(base, cur, study)
        time_rows = _time_rows(base, cur, study, time_bound, time_alpha, host_keys)
        rows += time_rows
        rows += _instruction_rows(base, cur, study, instruction_bound)
        skipped = [r for r in time_rows if r["kind"] == "not_comparable"]
        if skipped:
            reasons = sorted({r["why"] for r in skipped})
            notes.append(f"{study}: times of {len(skipped)} case(s) not gated: {'; '.join(reasons)}.")
        rows += _status_rows(base, cur, study)
        missing = sorted(set(base["case_id"]) - set(cur["case_id"]))
        if missing:
            notes.append(
                f"{study}: {len(missing)} baseline case(s) not in the current run: "
                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}."
            )
    every_core = _timed_on_every_core(pd.concat([baseline, current]))
    if every_core:
        notes.append(
            f"{every_core} record(s) were timed on the CPU with a thread on every core: on a shared machine their "
            "time moves far more between processes than the bound (docs/gate.md); for time verdicts, leave a "
            "core free (e.g. OMP_NUM_THREADS=1 on two cores, as tox -e nightly does)."
        )
    notes.append(
        f"Rules: accuracy drop beyond the seed range (and one-sided t-test p < {ACC_ALPHA} with 2+ current seeds); "
        "seed-gated (unstable) cases: fewer seeds reaching the bar than their rule needs; "
        f"time: probe-normalised ratio above +{time_bound:.0%} and one-sided Mann-Whitney p < {time_alpha}; "
        f"instructions: count above +{instruction_bound:.1%}."
    )
    return Comparison(table=pd.DataFrame(rows, columns=COLUMNS), notes=notes)


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", type=Path, help="results directory (or record file) of the last good run")
    parser.add_argument("current", type=Path, nargs="+", help="results directories of this run (shards are merged)")
    parser.add_argument(
        "--acc-tolerance",
        type=float,
        default=None,
        help=f"allowed drop of an asserted accuracy (default: the baseline's seed range, else {judge.MARGIN})",
    )
    parser.add_argument(
        "--time-bound",
        type=float,
        default=TIME_BOUND,
        help=f"allowed probe-normalised growth of the timed rounds' median (default {TIME_BOUND})",
    )
    parser.add_argument(
        "--time-alpha", type=float, default=TIME_ALPHA, help=f"significance of the rank test (default {TIME_ALPHA})"
    )
    parser.add_argument(
        "--instruction-bound",
        type=float,
        default=INSTRUCTION_BOUND,
        help=f"allowed growth of a callgrind instruction count (default {INSTRUCTION_BOUND})",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here (default: stdout)")
    parser.add_argument("--json", type=Path, default=None, help="also write the verdicts here as JSON")


def run(args: argparse.Namespace) -> int:
    for path in [args.baseline, *args.current]:
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        result = compare(
            load_side([args.baseline], "baseline"),
            load_side(args.current, "current"),
            acc_tolerance=args.acc_tolerance,
            time_bound=args.time_bound,
            time_alpha=args.time_alpha,
            instruction_bound=args.instruction_bound,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(result, [args.baseline], args.current)
    for path, content in ((args.out, text), (args.json, json.dumps(verdicts_json(result), indent=1) + "\n")):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {path}")
    if not args.out:
        print(text)
    for _, row in result.regressions.iterrows():
        change = f"{row['change']}, " if row["change"] else ""
        print(
            f"REGRESSION {row['study']}/{row['case_id']} {row['metric']}: {row['baseline']} -> {row['current']} "
            f"({change}allowed {row['allowed']})",
            file=sys.stderr,
        )
    return 1 if len(result.regressions) else 0
