"""``sbh`` report, tables: the records as one frame, structure x backbone pivots, coverage."""

from __future__ import annotations

from functools import partial

import pandas as pd

from harness.settings import SeedGate, lr_text
from reports import markers, stats
from reports.load import busiest_machine, distinct, machine, measured, precision_words
from reports.stats import seeds_reached
from studies import sbh

METRIC_COLUMNS = [
    "acc_all_heads",
    "acc_mean_heads",
    "acc_head_abc",
    "acc_head_a",
    "acc_head_b",
    "test_loss",
    "train_s",
    "inference_s",
    "latency_b32_s",
    "best_epoch",
]
PRIMARY = "acc_all_heads"  # write-up 000's charts compare one accuracy; ours is the stricter of the two
# Registry order (structure (1) first, resnet18 first), not alphabetical.
ORDER = {name: i for i, name in enumerate([*sbh.BACKBONES, *sbh.STRUCTURES])}


def writeup_label(structure: str) -> str:
    """``arch4-1`` -> ``(4)-1``: the numbering of write-up 001's figure."""
    return sbh.STRUCTURES[structure].label if structure in sbh.STRUCTURES else structure


def label(structure: str) -> str:
    return f"{structure} {writeup_label(structure)}"


def structures_table() -> pd.DataFrame:
    rows = [
        {
            "structure": label(name),
            "shared backbone": "yes" if info.shared_backbone else "no",
            "shared head": "yes" if info.shared_head else "no",
            "heads": ", ".join(info.heads),
            "what it is": info.description,
        }
        for name, info in sbh.STRUCTURES.items()
    ]
    return pd.DataFrame(rows)


def cases_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per case record with the columns the tables use; order follows the registry."""
    if frame.empty:
        return frame
    df = frame.rename(columns=lambda c: c.removeprefix("metrics.")).copy()
    for column in METRIC_COLUMNS:
        if column not in df:
            df[column] = float("nan")
    df["params"] = df.get("model.params", pd.Series(index=df.index, dtype=float)).astype("Int64")
    df["gflops"] = df.get("model.flops_per_image", pd.Series(float("nan"), index=df.index)) / 1e9
    df["structure"] = df["params.structure"]
    df["backbone"] = df["params.backbone"]
    df["digits"] = df["params.digits"].map(lambda d: ",".join(map(str, d)))
    df["experiment"] = df["params.experiment"]
    df["train_size"] = df.get("params.train_size", pd.Series(float("nan"), index=df.index)).astype(float)
    df["lr"] = df.get("params.lr", pd.Series(float("nan"), index=df.index)).astype(float)
    df["selection"] = df.get("params.selection", pd.Series("acc_all_heads", index=df.index)).fillna("acc_all_heads")
    df["measured"] = measured(df)
    df = with_seed_gates(df)
    df["marks"] = markers.case_marks(df, PRIMARY, current_threshold=current_threshold)
    df["case"] = df["case_id"] + df["marks"].map(lambda m: f" {m}" if m else "")
    order = ["digits", "train_size", "lr", "structure", "backbone"]
    return df.sort_values(
        order, key=lambda column: column.map(ORDER) if column.name in ("structure", "backbone") else column
    )


TIME_COLUMNS = ("train_s", "inference_s", "latency_b32_s")


def one_machine_times(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Times are compared only between records of one machine (``environment.fingerprint``): per
    experiment and digits, the machine that timed every case of it, with the most records, keeps
    its times (failing that, the one that timed the most cases); the other records keep their
    accuracies and lose their times. Returns the frame and one line per section that lost any."""
    if df.empty:
        return df, []
    df = df.copy()
    machines = machine(df)
    notes = []
    for (experiment, digits), section in df.groupby(["experiment", "digits"], sort=True):
        on = machines[section.index]
        kept = busiest_machine(on, section["case_id"])
        dropped = section.index[on != kept]
        if len(dropped):
            df.loc[dropped, list(TIME_COLUMNS)] = float("nan")
            records = on.value_counts()
            others = ", ".join(sorted(f"{m} ({records[m]})" for m in records.index if m != kept))
            cases = section.loc[on == kept, "case_id"].nunique()
            notes.append(
                f"{experiment}, digits {digits}: times of machine {kept} ({records[kept]} records, "
                f"{cases} of {section['case_id'].nunique()} cases); left out: {others}"
            )
    return df, notes


GATE_FIELDS = ("metric", "bar", "need", "of")


def with_seed_gates(df: pd.DataFrame) -> pd.DataFrame:
    """A record of a group that its profile seed-gates today carries today's rule: records from
    before the group was gated (or before records had the field) are read under the rule in force."""
    df = df.copy()
    for name in GATE_FIELDS:
        if f"seed_gate.{name}" not in df:
            df[f"seed_gate.{name}"] = None
        df[f"seed_gate.{name}"] = df[f"seed_gate.{name}"].astype(object)
    for index, row in df.iterrows():
        settings = sbh.PROFILES.get(row.get("profile"))
        gate = settings.seed_gates.get(row.get("params.threshold_group")) if settings else None
        if gate is not None:
            for name in GATE_FIELDS:
                df.at[index, f"seed_gate.{name}"] = getattr(gate, name)
    return df


def seed_gates(df: pd.DataFrame) -> pd.DataFrame:
    """Per seed-gated group in the records: its rule (the one in force, ``with_seed_gates``), and
    how many of its seeds reached the bar."""
    if "seed_gate.metric" not in df:
        return pd.DataFrame()
    rows = []
    for group, runs in df[df["seed_gate.metric"].notna()].groupby("params.threshold_group"):
        rule = runs.sort_values("finished_at").iloc[-1]
        per_case = [seeds_reached(case) for _, case in runs.groupby("case_id")]
        judged = [(k, n) for k, n, _ in per_case if n >= rule["seed_gate.of"]]
        rows.append(
            {
                "group": group,
                "rule": SeedGate(
                    str(rule["seed_gate.metric"]),
                    float(rule["seed_gate.bar"]),
                    int(rule["seed_gate.need"]),
                    int(rule["seed_gate.of"]),
                ).describe(),
                "cases": len(per_case),
                "seeds reaching the bar": f"{sum(k for k, _, _ in per_case)} of {sum(n for _, n, _ in per_case)}",
                "cases judged (all seeds ran)": len(judged),
                "cases failing the rule": sum(k < rule["seed_gate.need"] for k, _ in judged),
            }
        )
    return pd.DataFrame(rows)


def current_threshold(row: pd.Series) -> float | None:
    """The minimum of ``acc_all_heads`` the study asserts today for this record's profile and group."""
    settings = sbh.PROFILES.get(row.get("profile"))
    if settings is None or row.get("params.threshold_group") in settings.seed_gates:
        return None
    return settings.thresholds.get(row.get("params.threshold_group"), sbh.UNCALIBRATED_FLOOR).get(PRIMARY)


def structure_by_backbone(df: pd.DataFrame, values: str, aggfunc: str) -> pd.DataFrame:
    """Structure x backbone with every registered name present (gaps as NaN), rows labelled as in write-up 001."""
    # groupby + unstack: the same table as pivot_table, several times faster on these small frames.
    table = (
        df.groupby(["structure", "backbone"])[values].agg(aggfunc).unstack("backbone") if len(df) else pd.DataFrame()
    )
    table = table.reindex(index=list(sbh.STRUCTURES), columns=list(sbh.BACKBONES))
    table.index = [label(s) for s in table.index]
    table.index.name, table.columns.name = "structure", "backbone"
    return table


def pivot(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """A metric averaged over seeds, for the cases that produced metrics."""
    return structure_by_backbone(df[df["measured"]], column, "mean")


def ci_pivot(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """95 % CI half-width of a metric over seeds (NaN where one seed ran)."""
    return structure_by_backbone(df[df["measured"]], column, stats.ci_halfwidth)


def shown(df: pd.DataFrame, column: str, fmt: str) -> pd.DataFrame:
    """The table a reader sees: means, with ``± CI`` once a case has several seeds."""
    means = pivot(df, column)
    table = (
        means if df.groupby("case_id")["seed"].nunique().max() < 2 else stats.with_ci(means, ci_pivot(df, column), fmt)
    )
    marks = structure_by_backbone(df, "marks", lambda s: "".join(m for m in markers.MEANING if m in "".join(s)))
    if not marks.astype(object).fillna("").astype(str).ne("").any().any():
        return table
    # Markers go into the cells, so the numbers become text formatted here.
    text = table.astype(object).copy()
    for row in text.index:
        for column in text.columns:
            value, mark = text.loc[row, column], marks.loc[row, column]
            if isinstance(value, float) and pd.notna(value):
                value = f"{value:{fmt}}"
            if isinstance(mark, str) and mark and value is not None and not (isinstance(value, float)):
                value = f"{value} {mark}"
            text.loc[row, column] = value
    return text


def failed_mask(df: pd.DataFrame) -> pd.DataFrame:
    """True where a case missed its threshold (its bar is hatched)."""
    return structure_by_backbone(df.assign(bad=df["status"] == "failed"), "bad", "max")


def expected_cases(df: pd.DataFrame) -> list[str]:
    """Write-up 001's grid is always expected; another experiment (or --digits combo) once any of its cases ran."""
    experiments = set(df.get("params.experiment", pd.Series(dtype=object)))
    # Experiment 1 of write-up 001 runs on its own only with early stopping (the writeup profile).
    exp1 = "writeup" in set(df.get("profile", pd.Series(dtype=object)))
    expected = [case.id for case in sbh.experiment_cases("writeup001") if exp1 or case.selection == "all_heads"]
    for name in ("combos", "size", "lr"):
        if name in experiments:
            expected += [case.id for case in sbh.experiment_cases(name)]
    custom = df[df["params.experiment"] == "custom"] if "params.experiment" in df else df.iloc[0:0]
    for digits in sorted({tuple(d) for d in custom.get("params.digits", [])}):
        expected += [case.id for case in sbh.grid(digits)]
    return expected


def complete_blocks(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows of the (keys) blocks in which every registered structure was measured.

    Structure means are compared over the same blocks only; otherwise one missing case would
    move a structure's average by the difficulty of the cells it lacks.
    """
    structures = set(sbh.STRUCTURES)
    measured = df[df["measured"]]
    if measured.empty:
        return measured
    full = measured.groupby(keys)["structure"].transform(lambda s: structures <= set(s))
    return measured[full.astype(bool)]


def structure_means(df: pd.DataFrame, metric: str = PRIMARY) -> pd.Series:
    means = df.groupby("structure")[metric].mean()
    return means.reindex([s for s in list(sbh.STRUCTURES) if s in means.index])


def pivot_by(df: pd.DataFrame, index: str, columns: str, values: str = PRIMARY) -> pd.DataFrame:
    table = df.pivot_table(index=index, columns=columns, values=values, aggfunc="mean")
    if columns == "structure":
        table = table.reindex(columns=[s for s in list(sbh.STRUCTURES) if s in table.columns])
        table.columns = [label(s) for s in table.columns]
    if columns == "backbone":
        table = table.reindex(columns=[b for b in list(sbh.BACKBONES) if b in table.columns])
    table.columns.name = columns
    return table


def budget(df: pd.DataFrame) -> dict:
    """What the numbers of the document were trained with, read from the records."""
    values = partial(distinct, df)
    return {
        "profiles": values("profile"),
        "train_images": [int(v) for v in values("budget.train_images")],
        "epochs": [int(v) for v in values("budget.epochs")],
        "epochs_trained": [int(v) for v in values("budget.epochs_trained")],
        "min_steps": [int(v) for v in values("budget.min_steps")],
        "patience": [int(v) for v in values("budget.patience")],
        "batch": [int(v) for v in values("budget.batch_size")],
        "lr": [lr_text(v) for v in values("budget.lr")],
        "optimizer": values("budget.optimizer") or ["adam"],
        "loss_on": values("params.loss_on") or ["logits"],
        "weights": values("params.weights") or ["none"],
        "precision": precision_words(df),
        "seeds": sorted({int(s) for s in df["seed"]}) if "seed" in df else [],
        "devices": values("environment.gpu") or values("environment.cpu"),
        "present": int(df["case_id"].nunique()) if "case_id" in df else 0,
    }


def budget_words(spent: dict) -> str:
    """The budget in one line, e.g. for a verdict "not comparable (different budget: ...)"."""
    steps = f", at least {'/'.join(map(str, spent['min_steps']))} steps" if any(spent["min_steps"]) else ""
    if spent["epochs_trained"]:
        lo, hi = min(spent["epochs_trained"]), max(spent["epochs_trained"])
        steps += f" ({lo}{f'-{hi}' if hi > lo else ''} epochs trained)"
    stop = (
        f", early stopping (patience {'/'.join(map(str, spent['patience']))}), best epoch tested"
        if spent["patience"]
        else ", last weights tested"
    )
    return (
        f"{'/'.join(spent['profiles'])} profile, {'/'.join(map(str, spent['epochs']))} epoch(s){steps}{stop}, "
        f"{'/'.join(spent['optimizer'])}, batch {'/'.join(map(str, spent['batch']))}, "
        f"cross-entropy on {'/'.join(spent['loss_on'])}, backbone weights {'/'.join(spent['weights'])}, "
        f"{spent['precision']}"
    )
