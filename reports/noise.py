"""``python -m reports noise RUN_DIR RUN_DIR ...``: how often the gate cries wolf, and what it catches.

Each RUN_DIR holds the records of one same-commit rerun of the same cases (each run in its own
processes). Every ordered pair of runs goes through ``reports.gate.compare`` as baseline
and current: any regression there is a false alarm. Then, for each pair and each case, that
case's timed rounds in the current run are multiplied by a planted factor (its probe left
alone, as a real slowdown of the code would leave it) and the gate must flag it. Prints the
Markdown that docs/gate.md keeps, with the spread of the raw and probe-normalised ratios.

Records with instruction counts (study ``perf_instructions``) add the counts' same-commit
spread per case. ``--planted DIR ...`` takes runs of a really slowed-down code (not scaled
records): each is compared with every same-commit run, and the table says per case how often
each gate (instructions, time) flagged it.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from reports.gate import compare, load_side
from reports.gate.settings import HOST_SPEED_KEYS, INSTRUCTION_BOUND, TIME_ALPHA, TIME_BOUND, GateSettings
from reports.stats import relative_spread

PLANTED = (1.1, 1.2, 1.3, 1.4, 1.5)
TARGET = 1.3  # the slowdown of one case the gate should catch in every trial; misses from here up are listed


def _slowed(frame: pd.DataFrame, key: tuple[str, str], factor: float) -> pd.DataFrame:
    out = frame.copy()
    rows = (out["study"] == key[0]) & (out["case_id"] == key[1])
    out.loc[rows, "timing.rounds_s"] = out.loc[rows, "timing.rounds_s"].map(lambda r: [t * factor for t in r])
    return out


def measure(
    runs: list[pd.DataFrame],
    bound: float,
    alpha: float,
    instruction_bound: float = INSTRUCTION_BOUND,
    host_keys: tuple[str, ...] = HOST_SPEED_KEYS,
) -> dict:
    pairs = list(itertools.permutations(range(len(runs)), 2))
    cases = sorted(set(zip(runs[0]["study"], runs[0]["case_id"], strict=True)))
    alarms, ratios = [], []
    gate = {"time_bound": bound, "time_alpha": alpha, "instruction_bound": instruction_bound, "host_keys": host_keys}
    for i, j in pairs:
        table = compare(runs[i], runs[j], GateSettings(**gate)).table
        alarms += [
            f"{r.study}/{r.case_id} {r.metric} (runs {i + 1} -> {j + 1})"
            for r in table.itertuples()
            if r.verdict == "REGRESSION"
        ]
        timed = table[table["kind"].isin(["time", "ok"]) & table["ratio"].notna() & (table["metric"] != "instructions")]
        for r in timed.itertuples():
            raw = r.current / r.baseline
            ratios.append({"case": f"{r.study}/{r.case_id}", "normalised": r.ratio, "raw": raw, "p": r.p_value})
    caught, missed = {}, {}
    for factor in PLANTED:
        hits = total = 0
        missed[factor] = []
        for (i, j), key in itertools.product(pairs, cases):
            table = compare(runs[i], _slowed(runs[j], key, factor), GateSettings(**gate)).table
            flagged = table[
                (table["verdict"] == "REGRESSION") & (table["case_id"] == key[1]) & (table["kind"] == "time")
            ]
            hits += len(flagged) > 0
            total += 1
            if flagged.empty:
                missed[factor].append(f"{key[0]}/{key[1]} (runs {i + 1} -> {j + 1})")
        caught[factor] = (hits, total)
    return {
        "pairs": len(pairs),
        "cases": len(cases),
        "alarms": alarms,
        "ratios": pd.DataFrame(ratios),
        "caught": caught,
        "host_keys": host_keys,
        "missed": missed,
        "counts": instruction_spread(runs),
    }


def instruction_spread(runs: list[pd.DataFrame]) -> pd.DataFrame:
    """Per counted case: runs, median count, (max - min) / median over the same-commit runs."""
    column = "instructions.total"
    counted = [run[run[column].notna()] for run in runs if column in run]
    if not counted:
        return pd.DataFrame()
    counts = pd.concat(run.set_index("case_id")[column].astype(float) for run in counted)
    by_case = counts.groupby(level=0)
    return pd.DataFrame(
        {
            "runs": by_case.size(),
            "instructions": by_case.median(),
            "spread": by_case.agg(relative_spread),
        }
    )


def planted_verdicts(runs: list[pd.DataFrame], planted: list[pd.DataFrame], gate: dict) -> pd.DataFrame:
    """Per case and gate (instructions, time): how many (same-commit run, planted run) pairs
    the gate flagged, and the median change it saw."""
    rows = []
    for base, slowed in itertools.product(runs, planted):
        table = compare(base, slowed, GateSettings(**gate)).table
        table = table[table["ratio"].notna()]
        rows += [
            {"case": r.case_id, "gate": r.metric, "flagged": r.verdict == "REGRESSION", "ratio": r.ratio}
            for r in table.itertuples()
        ]
    frame = pd.DataFrame(rows)
    return frame.groupby(["case", "gate"]).agg(
        flagged=("flagged", "sum"), pairs=("flagged", "size"), ratio=("ratio", "median"), lowest=("ratio", "min")
    )


def markdown(result: dict, bound: float, alpha: float) -> str:
    ratios = result["ratios"]
    lines = [
        f"Gate: probe-normalised ratio (host speed from {' and '.join(result['host_keys'])}) > {1 + bound:.2f}, "
        f"raw ratio > {1 + bound:.2f} and one-sided Mann-Whitney p < {alpha}.",
        "",
        f"- Same-commit pairs: {result['pairs']} ordered pairs x {result['cases']} cases; "
        f"false alarms: **{len(result['alarms'])}**"
        + (f" ({'; '.join(result['alarms'][:5])})" if result["alarms"] else ""),
        "",
        "| case | raw ratio: median (min-max) | normalised ratio: median (min-max) | pairs with p < alpha |",
        "|---|---|---|---:|",
    ]
    for case, group in ratios.groupby("case"):
        cell = lambda s: f"{s.median():.3f} ({s.min():.3f}-{s.max():.3f})"  # noqa: E731
        lines.append(f"| {case} | {cell(group['raw'])} | {cell(group['normalised'])} | {(group['p'] < alpha).sum()} |")
    lines += ["", "| planted slowdown of one case | caught |", "|---|---:|"]
    lines += [f"| {factor}x | {hits} of {total} |" for factor, (hits, total) in result["caught"].items()]
    always = [factor for factor, (hits, total) in result["caught"].items() if hits == total]
    lines += [
        "",
        f"Smallest planted slowdown caught in every trial: {f'{min(always)}x' if always else 'none of those tried'}.",
    ]
    for factor, trials in result["missed"].items():
        if trials and factor >= TARGET:
            lines.append(
                f"Missed at {factor}x: {len(trials)} ({'; '.join(trials[:5])}{'; ...' if len(trials) > 5 else ''})."
            )
    counts = result["counts"]
    if len(counts):
        lines += [
            "",
            "| counted case | runs | median instructions | spread (max - min) / median |",
            "|---|---:|---:|---:|",
        ]
        lines += [f"| {r.Index} | {r.runs} | {r.instructions:,.0f} | {r.spread:.1e} |" for r in counts.itertuples()]
    planted = result.get("planted")
    if planted is not None and len(planted):
        lines += [
            "",
            "| planted code, case | gate | flagged | median ratio (lowest) |",
            "|---|---|---:|---|",
        ]
        lines += [
            f"| {case} | {gate} | {r.flagged:.0f} of {r.pairs:.0f} | {r.ratio:.4f} ({r.lowest:.4f}) |"
            for (case, gate), r in planted.iterrows()
        ]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=Path, nargs="+", help="one results directory per same-commit rerun")
    parser.add_argument("--time-bound", type=float, default=TIME_BOUND)
    parser.add_argument("--time-alpha", type=float, default=TIME_ALPHA)
    parser.add_argument("--instruction-bound", type=float, default=INSTRUCTION_BOUND)
    parser.add_argument(
        "--host-probe",
        default=",".join(HOST_SPEED_KEYS),
        help=f"probe workloads that stand for the host's speed, comma-separated (default {','.join(HOST_SPEED_KEYS)})",
    )
    parser.add_argument("--planted", type=Path, nargs="*", default=[], help="runs of a really slowed-down code")


def run(args: argparse.Namespace) -> int:
    if len(args.runs) < 2:
        print("error: give at least two run directories", file=sys.stderr)
        return 2
    try:
        runs = [load_side([path], str(path)) for path in args.runs]
        planted = [load_side([path], str(path)) for path in args.planted]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    np.seterr(all="ignore")
    host_keys = tuple(args.host_probe.split(","))
    probed = {c.rsplit(".", 1)[-1] for c in runs[0].columns if c.startswith("environment.probe.")}
    if not set(host_keys) <= probed:
        print(
            f"error: --host-probe {args.host_probe}: the records' probes have {', '.join(sorted(probed))}",
            file=sys.stderr,
        )
        return 2
    result = measure(runs, args.time_bound, args.time_alpha, args.instruction_bound, host_keys)
    if planted:
        gate = {
            "time_bound": args.time_bound,
            "time_alpha": args.time_alpha,
            "instruction_bound": args.instruction_bound,
            "host_keys": host_keys,
        }
        result["planted"] = planted_verdicts(runs, planted, gate)
    print(markdown(result, args.time_bound, args.time_alpha))
    return 0
