"""Tables, figures and the model choice for the ``emnist`` document (write-up 004's layout)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import studies.writeups as writeups
from reports import stats, versus
from reports.figures import grouped_bars, save_figure
from reports.load import find_artifact, load_predictions, measured
from studies import emnist
from studies.emnist import NUM_CLASSES

# Write-up 004's selection score: each criterion min-max normalised over the candidates so that 1
# is best, then summed (higher total = better); ours uses our own measurements.
SELECTION = {"test_top5": "higher", "latency_ms": "lower", "params": "lower"}


def cases_frame(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.rename(columns=lambda c: c.removeprefix("metrics.")).copy()
    df["measured"] = measured(df)
    df["params"] = df.get("model.params", pd.Series(float("nan"), index=df.index))
    order = {case.id: i for i, case in enumerate(emnist.cases())}
    return df.sort_values("case_id", key=lambda s: s.map(lambda c: order.get(c, -1))).set_index("case_id", drop=False)


def _curves(records: dict, row) -> pd.DataFrame:
    record = records[("emnist", row["case_id"], row["seed"])]
    return pd.DataFrame(record.curves).set_index("epoch")


def learning_curves(df: pd.DataFrame, records: dict, figures_dir: Path, name: str) -> Path:
    """Loss and accuracy per epoch, train vs valid, one row of two panels per case."""
    fig, axes = plt.subplots(len(df), 2, figsize=(9, 2.6 * len(df)), squeeze=False)
    table = []
    for i, (_, row) in enumerate(df.iterrows()):
        curve = _curves(records, row)
        for ax, (train, valid, what) in zip(
            axes[i], [("train_loss", "eval_loss", "loss"), ("train_acc", "eval_acc", "accuracy")], strict=True
        ):
            ax.plot(curve.index, curve[train], marker="o", label="train")
            ax.plot(curve.index, curve[valid], marker="o", label="valid")
            ax.set_title(f"{row['case_id']}: {what}", fontsize=9)
            if what == "accuracy" and ax.get_ylim()[1] > 1.0:
                ax.set_ylim(top=1.0)  # an accuracy axis stops at 1
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        table.append(curve.assign(case_id=row["case_id"]).reset_index())
    return save_figure(fig, figures_dir / name, pd.concat(table).set_index(["case_id", "epoch"]))


def case_table(df: pd.DataFrame, with_seed: bool, delta: bool = False) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "change": df["params.change"],
            "test acc": df["test_acc"],
            "top-5": df["test_top5"],
            "test loss": df["test_loss"],
            "s / epoch": df["s_per_epoch"],
            "train s": df["train_s"],
            "params": df["params"].astype("Int64"),
            "latency ms": df["latency_ms"],
        },
        index=df["case_id"],
    )
    if delta:
        out.insert(2, "Δ vs previous", out["test acc"].diff())
    if with_seed:
        theirs = pd.DataFrame(emnist.writeup_results()).T.reindex(out.index)
        out.insert(1, "write-up test acc", theirs["test_acc"])
        if delta:
            out.insert(3, "write-up Δ", theirs["test_acc"].diff())
        out["write-up s / epoch"] = theirs["s_per_epoch"]
        # The full profile trains write-up 004's epochs; any other budget is not comparable.
        comparable = set(df["profile"]) == {"full"}
        words = "/".join(sorted(set(df["profile"]))) + " profile"
        out["difference"] = out["test acc"] - out["write-up test acc"]
        out["verdict"] = [
            versus.verdict(theirs_acc, pd.Series([ours], dtype=float), comparable=comparable, budget_words=words)
            if pd.notna(theirs_acc)
            else "no write-up number"
            for ours, theirs_acc in zip(out["test acc"], out["write-up test acc"], strict=True)
        ]
    return out


def selection_table(df: pd.DataFrame) -> pd.DataFrame:
    """Write-up 004's selection score from our measurements: min-max normalised, summed, ranked."""
    table = df[["test_top5", "latency_ms", "params", "test_acc"]].astype(float).copy()
    for column, better in SELECTION.items():
        values = table[column]
        span = values.max() - values.min()
        scaled = (values - values.min()) / span if span > 0 else values * 0 + 1.0
        table[f"{column} score"] = scaled if better == "higher" else 1 - scaled
    table["total"] = table[[f"{c} score" for c in SELECTION]].sum(axis=1)
    table["rank"] = table["total"].rank(ascending=False, method="min").astype(int)
    return table.sort_values("rank")


def confusion_figure(arrays: dict, classes: list[str], figures_dir: Path, case_id: str) -> Path:
    n = len(classes)
    matrix = np.zeros((n, n), dtype=int)
    np.add.at(matrix, (arrays["labels"], arrays["predictions"]), 1)
    fig, ax = plt.subplots(figsize=(9, 8))
    image = ax.imshow(matrix / np.maximum(matrix.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), classes, fontsize=6)
    ax.set_yticks(range(n), classes, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix (row-normalised), {case_id}, test set")
    fig.colorbar(image, fraction=0.046)
    table = pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=classes)
    return save_figure(fig, figures_dir / "emnist_confusion.png", table)


def samples_figure(path_npz: Path, classes: list[str], figures_dir: Path) -> Path:
    arrays = np.load(path_npz)
    n = len(arrays["labels"])
    cols = 12
    fig, axes = plt.subplots(
        (n + cols - 1) // cols, cols, figsize=(cols * 0.9, 1.1 * ((n + cols - 1) // cols)), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    # strict=False: the grid may have spare cells
    for ax, image, label in zip(axes.flat, arrays["images"], arrays["labels"], strict=False):
        ax.imshow(image, cmap="gray")
        ax.set_title(classes[int(label)], fontsize=8)
    return save_figure(fig, figures_dir / "emnist_samples.png", pd.DataFrame({"label": arrays["labels"]}))


def data_part(
    df: pd.DataFrame, records: dict, results_dirs: list[Path], figures_dir: Path, link_prefix: str
) -> dict | None:
    rows = df[(df["case_id"] == emnist.DATA_ID) & (df["status"] == "passed")]
    if rows.empty:
        return None
    row = rows.iloc[0]
    record = records[("emnist", row["case_id"], row["seed"])]
    classes = record.params["class_names"]
    counts = pd.DataFrame(record.params["class_counts"], index=pd.Index(classes, name="class"))
    bars = grouped_bars(
        counts, figures_dir / "emnist_class_counts.png", title="images per class and split", ylabel="images"
    )
    samples = find_artifact(results_dirs, "emnist", record.artifacts.get("samples"))
    return {
        "splits": pd.DataFrame(
            {"images": [record.metrics[f"{s}_images"] for s in ("train", "valid", "test")]},
            index=pd.Index(["train", "valid", "test"], name="split"),
        ),
        "counts_png": f"{link_prefix}/{bars.name}",
        "counts_range": (int(counts["train"].min()), int(counts["train"].max())),
        "samples_png": f"{link_prefix}/{samples_figure(samples, classes, figures_dir).name}" if samples else None,
        "classes": classes,
    }


def build(
    df_all: pd.DataFrame, figures_dir: Path, link_prefix: str, *, records: dict, results_dirs: list[Path], **_
) -> dict:
    df = cases_frame(df_all)
    training = df[df["measured"] & (df["case_id"] != emnist.DATA_ID)]
    skipped = df[df["status"] == "error"]
    context = {
        "recomputed": writeup_selection_recomputed(),
        "data": data_part(df, records, results_dirs, figures_dir, link_prefix),
        "not_run": None,
        "problems": df[~df["status"].isin(["passed"])][["case_id", "status", "error"]],
    }
    if training.empty:
        reasons = sorted({str(e) for e in skipped["error"].dropna()})
        context["not_run"] = reasons[0] if reasons else "no training records"
        return {
            **context,
            "lenet": None,
            "ladder": None,
            "candidates": None,
            "selection": None,
            "mcnemar": None,
            "confusion": None,
        }
    pick = lambda ids: training.loc[[i for i in ids if i in training.index]]  # noqa: E731
    lenet, ladder, candidates = (
        pick([c.id for c in emnist.LENET]),
        pick([c.id for c in emnist.LADDER]),
        pick(emnist.CANDIDATE_IDS),
    )
    context["lenet"] = (
        {
            "table": case_table(lenet, True),
            "curves": f"{link_prefix}/{learning_curves(lenet, records, figures_dir, 'emnist_lenet_curves.png').name}",
        }
        if len(lenet)
        else None
    )
    context["ladder"] = (
        {
            "table": case_table(ladder, True, delta=True),
            "curves": f"{link_prefix}/{learning_curves(ladder, records, figures_dir, 'emnist_ladder_curves.png').name}",
        }
        if len(ladder)
        else None
    )
    context["candidates"] = {"table": case_table(candidates, False)} if len(candidates) else None
    context["selection"] = context["mcnemar"] = context["confusion"] = None
    if len(candidates) >= 2:
        selection = selection_table(candidates)
        chosen = selection.index[0]
        context["selection"] = {"table": selection, "chosen": chosen}
        best_two = candidates.sort_values("test_acc", ascending=False).head(2)
        a, b = (
            load_predictions(records, results_dirs, "emnist", r["case_id"], r["seed"]) for _, r in best_two.iterrows()
        )
        if a is not None and b is not None:
            test = stats.mcnemar_exact(a["labels"], a["predictions"], b["predictions"])
            context["mcnemar"] = {"a": best_two.index[0], "b": best_two.index[1], **test}
        predictions = load_predictions(records, results_dirs, "emnist", chosen, candidates.loc[chosen, "seed"])
        classes = context["data"]["classes"] if context["data"] else [str(i) for i in range(NUM_CLASSES)]
        if predictions is not None:
            context["confusion"] = {
                "case": chosen,
                "png": f"{link_prefix}/{confusion_figure(predictions, classes, figures_dir, chosen).name}",
            }
    return context


def not_run(figures_dir: Path, link_prefix: str) -> dict:
    """The page without records: why, what it would show, and the write-up's numbers it would be compared with."""
    writeup = pd.DataFrame(emnist.writeup_results()).T
    writeup = writeup[["test_acc", "s_per_epoch", "source"]].rename(
        columns={"test_acc": "write-up test acc", "s_per_epoch": "write-up s / epoch (its GPU)"}
    )
    writeup.index.name = "case"
    cases = pd.DataFrame(
        [{"case": c.id, "group": c.group, "what it changes": c.change or "—"} for c in emnist.cases()]
    ).set_index("case")
    return {
        "files": emnist.DATA_FILES,
        "splits": emnist.SPLIT_SIZES,
        "writeup": writeup,
        "cases": cases,
        "recomputed": writeup_selection_recomputed(),
    }


def _minmax(values: pd.Series, higher_is_better: bool) -> pd.Series:
    lo, hi = values.min(), values.max()
    scaled = (values - lo) / (hi - lo)
    return scaled if higher_is_better else 1 - scaled


def writeup_selection_recomputed() -> dict:
    """Write-up 004's "additional candidate" score (top-5 + GPU time + parameters, each
    min-max normalised, summed) recomputed from the inputs its own table lists, beside the
    values the write-up printed. Inputs: ``studies/writeups/004_candidates.csv``; printed
    values: ``004_selection_table.csv`` (both transcribed from the write-up's slides)."""
    inputs = pd.DataFrame(writeups.rows("004_candidates")).set_index("model")
    for column in ("params", "top5_pct", "gpu_ms"):
        inputs[column] = pd.to_numeric(inputs[column], errors="coerce")
    printed = pd.DataFrame(writeups.rows("004_selection_table"))

    def printed_column(model_col: str, value_col: str) -> pd.Series:
        part = printed[[model_col, value_col]].replace("", np.nan).dropna()
        return pd.to_numeric(part.set_index(model_col)[value_col])

    ours = pd.DataFrame(
        {
            "top5": _minmax(inputs["top5_pct"].dropna(), True),
            # The write-up gives 0 to a model without a GPU time or parameter count.
            "gpu": _minmax(inputs["gpu_ms"].dropna(), False),
            "params": _minmax(inputs["params"].dropna(), False),
        }
    )
    theirs = pd.DataFrame(
        {
            "top5": printed_column("top5_model", "top5_norm"),
            "gpu": printed_column("gpu_model", "gpu_norm"),
            "params": printed_column("params_model", "params_norm"),
            "score": printed_column("score_model", "score"),
        }
    )
    scored = theirs["score"].dropna().index
    ours["score"] = ours[["top5", "gpu", "params"]].loc[scored].sum(axis=1)
    rows = []
    for model in inputs.index:
        row = {"model": model}
        for part in ("top5", "gpu", "params", "score"):
            mine, printed_value = ours[part].get(model, np.nan), theirs[part].get(model, np.nan)
            row[f"{part} (write-up)"] = printed_value
            row[f"{part} (recomputed)"] = round(mine, 3) if pd.notna(mine) else np.nan
        # Printed to two decimals: a part within 0.01 (rounding or truncation) and a sum of three
        # such parts within 0.015 count as the same number.
        tolerance = {"top5": 0.01, "gpu": 0.01, "params": 0.01, "score": 0.015}
        off = [
            p
            for p, limit in tolerance.items()
            if pd.notna(row[f"{p} (recomputed)"])
            and pd.notna(row[f"{p} (write-up)"])
            and abs(row[f"{p} (recomputed)"] - row[f"{p} (write-up)"]) > limit + 1e-9
        ]
        if pd.notna(row["score (write-up)"]):
            row["write-up's parts summed"] = round(sum(row[f"{p} (write-up)"] for p in ("top5", "gpu", "params")), 2)
        row["check"] = f"differs: {', '.join(off)}" if off else "same (to rounding)"
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    ranked = table["score (recomputed)"].dropna().sort_values(ascending=False)
    printed_rank = table["score (write-up)"].dropna().sort_values(ascending=False, kind="stable")
    return {
        "table": table,
        "differs": [
            f"{m} ("
            + ", ".join(
                f"{p} {table.loc[m, f'{p} (write-up)']:.2f} printed, {table.loc[m, f'{p} (recomputed)']:.3f} recomputed"
                for p in table.loc[m, "check"].removeprefix("differs: ").split(", ")
            )
            + ")"
            for m in table.index
            if table.loc[m, "check"].startswith("differs")
        ],
        "sums_add_up": bool(
            (table["write-up's parts summed"].dropna() - table["score (write-up)"].dropna()).abs().max() < 0.005
        ),
        "top_recomputed": list(ranked.index[:3]),
        "top_printed": list(printed_rank.index[:3]),
    }
