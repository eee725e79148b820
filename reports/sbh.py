"""Tables, figures and computed statements for the ``sbh`` document (seed 001's layout)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

import models
from models.sbh import STRUCTURES
from reports.figures import grouped_bars
from studies import sbh

ACCURACY_METRICS = {
    "acc_mean_heads": "accuracy, mean of heads (seed experiment 1)",
    "acc_all_heads": "accuracy, all heads right (seed experiment 2)",
}
METRIC_COLUMNS = ["acc_all_heads", "acc_mean_heads", "acc_head_abc", "acc_head_a", "acc_head_b", "test_loss", "train_s", "inference_s"]
# Structures whose mean accuracy is within this many points of the best count as "as accurate"
# when picking the accuracy/speed trade-off (seed 001 picked (3) on that basis).
TRADEOFF_TOLERANCE = 0.005


def seed_label(structure: str) -> str:
    """``arch4-1`` -> ``(4)-1``: the numbering of seed 001's figure."""
    number, _, variant = structure.removeprefix("arch").partition("-")
    return f"({number})" + (f"-{variant}" if variant else "")


def label(structure: str) -> str:
    return f"{structure} {seed_label(structure)}"


def structures_table() -> pd.DataFrame:
    rows = [
        {
            "structure": label(name),
            "shared backbone": "yes" if cls.shared_backbone else "no",
            "shared head": "yes" if cls.shared_head else "no",
            "heads": ", ".join(cls.heads),
            "what it is": cls.description,
        }
        for name, cls in STRUCTURES.items()
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
    df["measured"] = df["status"].isin(["passed", "failed"])
    # Registry order (structure (1) first, resnet18 first), not alphabetical.
    rank = {name: i for i, name in enumerate(models.list_models())}
    return df.sort_values(["digits", "structure", "backbone"], key=lambda column: column.map(rank) if column.name != "digits" else column)


def _structure_by_backbone(df: pd.DataFrame, values: str, aggfunc: str) -> pd.DataFrame:
    """Structure x backbone with every registered name present (gaps as NaN), rows labelled as in seed 001."""
    table = df.pivot_table(index="structure", columns="backbone", values=values, aggfunc=aggfunc)
    table = table.reindex(index=models.list_models(family="sbh"), columns=models.list_models(family="backbone"))
    table.index = [label(s) for s in table.index]
    table.index.name, table.columns.name = "structure", "backbone"
    return table


def pivot(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """A metric averaged over seeds, for the cases that produced metrics."""
    return _structure_by_backbone(df[df["measured"]], column, "mean")


def failed_mask(df: pd.DataFrame) -> pd.DataFrame:
    """True where a case missed its threshold (its bar is hatched)."""
    return _structure_by_backbone(df.assign(bad=df["status"] == "failed"), "bad", "max")


def summary(df: pd.DataFrame) -> list[str]:
    """Seed 001's conclusions, recomputed from these records; each sentence cites its numbers."""
    measured = df[df["measured"]]
    if measured.empty:
        return []
    lines = []
    for metric, title in ACCURACY_METRICS.items():
        per_structure = measured.groupby("structure")[metric].mean().sort_values()
        best, worst = per_structure.index[-1], per_structure.index[0]
        lines.append(
            f"{title}: best structure **{label(best)}** ({per_structure[best]:.4f} mean over backbones), "
            f"worst **{label(worst)}** ({per_structure[worst]:.4f})."
        )
    flags = measured["structure"].map(lambda s: (STRUCTURES[s].shared_backbone, STRUCTURES[s].shared_head))
    shared_bb, shared_head = flags.map(lambda f: f[0]), flags.map(lambda f: f[1])
    for metric in ACCURACY_METRICS:
        lines.append(_compare(measured, shared_head, metric, "split heads", "a shared head", "accuracy", f"`{metric}`"))
    lines.append(_compare(measured, shared_bb, "acc_all_heads", "split backbones", "a shared backbone", "accuracy", "`acc_all_heads`"))
    time_split = measured.loc[~shared_bb, "inference_s"].mean()
    time_shared = measured.loc[shared_bb, "inference_s"].mean()
    if pd.notna(time_split) and pd.notna(time_shared) and time_shared > 0:
        lines.append(
            f"Inference: a shared backbone is **{time_split / time_shared:.1f}x faster** than split backbones "
            f"({time_shared:.3f} s vs {time_split:.3f} s for the test subset, mean over backbones)."
        )
    by_backbone = measured.groupby("backbone")["inference_s"].mean()
    if len(by_backbone) > 1:
        fastest, slowest = by_backbone.idxmin(), by_backbone.idxmax()
        lines.append(
            f"Inference time grows with the backbone: {slowest} takes {by_backbone[slowest] / by_backbone[fastest]:.1f}x "
            f"the time of {fastest} (mean over structures)."
        )
    lines.append(_tradeoff(measured))
    return lines


def _compare(df, is_b, metric, name_a, name_b, what, metric_label) -> str:
    a, b = df.loc[~is_b, metric].mean(), df.loc[is_b, metric].mean()
    if pd.isna(a) or pd.isna(b):
        return f"{what.capitalize()} of {name_a} vs {name_b}: not both present in these records."
    verb = "higher" if a > b else "lower" if a < b else "equal"
    return f"{metric_label}: {name_a} score {verb} than {name_b} ({a:.4f} vs {b:.4f}, difference {a - b:+.4f})."


def _tradeoff(df: pd.DataFrame) -> str:
    stats = df.groupby("structure")[["acc_all_heads", "inference_s"]].mean()
    best_acc = stats["acc_all_heads"].max()
    close = stats[stats["acc_all_heads"] >= best_acc - TRADEOFF_TOLERANCE]
    pick = close["inference_s"].idxmin()
    return (
        f"Trade-off: of the structures within {TRADEOFF_TOLERANCE * 100:.1f} points of the best `acc_all_heads` "
        f"({', '.join(label(s) for s in close.index)}), the fastest is **{label(pick)}** "
        f"({stats.loc[pick, 'acc_all_heads']:.4f}, {stats.loc[pick, 'inference_s']:.3f} s)."
    )


def expected_cases(df: pd.DataFrame) -> list[str]:
    """Seed 001's grid is always expected; other combos are expected when any of their cases ran."""
    combos = {tuple(sbh.SEED001_DIGITS)} | {tuple(d) for d in df.get("params.digits", pd.Series(dtype=object))}
    return [case.id for digits in sorted(combos) for case in sbh.grid(digits)]


def build(df_all: pd.DataFrame, figures_dir: Path, link_prefix: str, **_) -> dict:
    """Everything the ``sbh`` template needs; figures are written under ``figures_dir``."""
    df = cases_frame(df_all)
    ran = set(df["case_id"]) if not df.empty else set()
    missing = [case_id for case_id in expected_cases(df_all) if case_id not in ran]
    context = {
        "structures": structures_table(),
        "missing": missing,
        "problems": df[~df["status"].eq("passed")] if not df.empty else df,
        "sections": [],
    }
    measured = df[df["measured"]] if not df.empty else df
    for digits, group in (measured.groupby("digits", sort=True) if not measured.empty else []):
        tag = sbh.digits_tag(tuple(int(d) for d in digits.split(",")))
        flagged = failed_mask(group)
        section = {"digits": digits, "tag": tag, "figures": [], "summary": summary(group), "cases": group}
        for metric, title in ACCURACY_METRICS.items():
            table = pivot(group, metric)
            path = grouped_bars(table, figures_dir / f"{tag}_{metric}.png", title=f"{title} - digits {digits}", ylabel="test accuracy", zoom=True, flagged=flagged)
            section["figures"].append({"title": title, "metric": metric, "table": table, "png": f"{link_prefix}/{path.name}", "csv": f"{link_prefix}/{path.with_suffix('.csv').name}"})
        table = pivot(group, "inference_s")
        path = grouped_bars(table, figures_dir / f"{tag}_inference_s.png", title=f"inference time for the test subset - digits {digits}", ylabel="seconds (median of rounds)", flagged=flagged)
        section["figures"].append({"title": "inference time (s)", "metric": "inference_s", "table": table, "png": f"{link_prefix}/{path.name}", "csv": f"{link_prefix}/{path.with_suffix('.csv').name}"})
        context["sections"].append(section)
    return context
