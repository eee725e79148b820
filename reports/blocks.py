"""Tables, figures and computed statements for the ``blocks`` document (write-up 003's layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reports import stats
from reports.figures import grouped_bars, heatmap_grid, pareto
from reports.load import find_artifact, measured
from studies import blocks

FOUR_COLUMNS = ["acc", "loss", "test_acc", "test_loss"]


def cases_frame(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame[frame["case_id"] != blocks.HEATMAP_ID].rename(columns=lambda c: c.removeprefix("metrics.")).copy()
    df["network"] = df["params.network"]
    df["doc"] = df.get("model.description", None)
    df["acc"], df["loss"] = df.get("train_acc"), df.get("train_loss")
    df["measured"] = measured(df)
    order = {name: i for i, name in enumerate([*blocks.NETWORKS, blocks.REFERENCE])}
    return df.sort_values("network", key=lambda s: s.map(order)).set_index("network", drop=False)


def over_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """One row per network: numeric columns averaged over measured seeds, the worst status kept,
    and ``test_acc_ci`` (95 % half-width, NaN with one seed)."""
    if df.index.is_unique:
        return df.assign(test_acc_ci=np.nan, seeds=1)
    rank = {"passed": 0, "failed": 1, "diverged": 2, "oom": 3, "error": 4}
    rows = []
    for _, group in df.groupby(level=0, sort=False):
        measured = group[group["measured"]]
        row = group.iloc[0].copy()
        numeric = measured.select_dtypes("number").mean()
        row[numeric.index] = numeric
        row["status"] = max(group["status"], key=lambda s: rank.get(s, 5))
        row["measured"] = bool(len(measured))
        row["test_acc_ci"] = stats.ci_halfwidth(measured["test_acc"]) if "test_acc" in measured else np.nan
        row["seeds"] = len(measured)
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_part(df: pd.DataFrame, figures_dir: Path, link_prefix: str) -> dict | None:
    measured = df[df["measured"]]
    if len(measured) < 2:
        return None
    points = measured[["network", "test_acc", "inference_s"]].reset_index(drop=True)
    front = stats.pareto_front(points, "test_acc", "inference_s")
    path = pareto(
        points,
        figures_dir / "blocks_pareto.png",
        x="inference_s",
        y="test_acc",
        label="network",
        front=front,
        title="test accuracy vs inference time (10,000 test images)",
        xlabel="inference time (s, log scale)",
        ylabel="test accuracy",
    )
    return {"png": f"{link_prefix}/{path.name}", "front": points[front].sort_values("inference_s")}


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Write-up 003's four columns per block, ours beside the write-up's."""
    rows = []
    writeup = blocks.writeup_results()
    for network in blocks.NETWORKS:
        theirs = writeup[network]
        ours = df.loc[network] if network in df.index and df.loc[network, "measured"] else None
        row = {"block": network}
        for column in FOUR_COLUMNS:
            row[column] = ours[column] if ours is not None else np.nan
            row[f"write-up {column}"] = theirs[column]
        if "test_acc_ci" in df and df["test_acc_ci"].notna().any():
            row["test_acc ± (95 % CI)"] = ours["test_acc_ci"] if ours is not None else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("block")


def resource_table(df: pd.DataFrame) -> pd.DataFrame:
    measured = df[df["measured"]]
    table = pd.DataFrame(
        {
            "params": measured["model.params"].astype(int),
            "MFLOPs / image": measured["model.flops_per_image"] / 1e6,
            "peak train memory (MiB)": measured["model.peak_memory_bytes"] / 2**20,
            "batch": measured["budget.batch_size"].astype(int),
            "train s": measured["train_s"],
            "s / epoch": measured["s_per_epoch"],
            "inference s (10k test)": measured["inference_s"],
            "images / s": measured["inference_images_per_s"],
            "conv depth": measured["model.conv_depth"].astype(int),
        }
    )
    table.index.name = "network"
    return table


def conclusions(df: pd.DataFrame) -> list[str]:
    measured = df[df["measured"] & (df["network"] != blocks.REFERENCE)]
    if measured.empty:
        return []
    best, worst = measured["test_acc"].idxmax(), measured["test_acc"].idxmin()
    memory, slowest = measured["model.peak_memory_bytes"].idxmax(), measured["train_s"].idxmax()
    lines = [
        f"Accuracy: **{best}** has the best test accuracy ({measured.loc[best, 'test_acc']:.4f}), "
        f"**{worst}** the lowest ({measured.loc[worst, 'test_acc']:.4f}).",
        f"Resources: **{memory}** needs the most training memory "
        f"({measured.loc[memory, 'model.peak_memory_bytes'] / 2**20:.1f} MiB at batch "
        f"{int(measured.loc[memory, 'budget.batch_size'])}); "
        f"**{slowest}** takes the longest to train ({measured.loc[slowest, 'train_s']:.1f} s).",
    ]
    writeup = blocks.writeup_results()
    writeup_best = max(writeup, key=lambda n: writeup[n]["test_acc"])
    lines.append(
        f"Write-up 003 found **{writeup_best}** best; here it is "
        + (
            "the best as well."
            if writeup_best == best
            else f"{measured.loc[writeup_best, 'test_acc']:.4f} against {best}'s {measured.loc[best, 'test_acc']:.4f}."
            if writeup_best in measured.index
            else "not measured."
        )
    )
    return lines


def heatmaps(frame: pd.DataFrame, records: dict, results_dirs: list[Path], figures_dir: Path) -> dict | None:
    rows = frame[frame["case_id"] == blocks.HEATMAP_ID]
    for _, row in rows.iterrows():
        record = records[(row["study"], row["case_id"], row["seed"])]
        name = record.artifacts.get("attributions")
        path = find_artifact(results_dirs, "blocks", name)
        if path is not None:
            arrays = dict(np.load(path))
            networks = record.params["networks"]
            png = heatmap_grid(arrays, networks, figures_dir / "blocks_heatmaps.png")
            return {
                "png": png.name,
                "networks": networks,
                "params": record.params,
                "metrics": record.metrics,
                "status": record.status,
            }
    return None


def build(
    df_all: pd.DataFrame, figures_dir: Path, link_prefix: str, *, records: dict, results_dirs: list[Path]
) -> dict:
    per_seed = cases_frame(df_all)
    df = over_seeds(per_seed)
    measured = df[df["measured"]]
    accuracy = measured[["acc", "test_acc"]].rename(columns={"acc": "train acc", "test_acc": "test acc"})
    accuracy.index.name, accuracy.columns.name = "network", "split"
    flagged = pd.DataFrame(dict.fromkeys(accuracy.columns, measured["status"] == "failed"))
    errors = pd.DataFrame({"test acc": measured["test_acc_ci"]})
    bars = grouped_bars(
        accuracy,
        figures_dir / "blocks_accuracy.png",
        title="accuracy per network (error bars: 95 % CI over seeds)",
        ylabel="accuracy",
        zoom=True,
        flagged=flagged,
        errors=errors,
    )
    expected = [c.id for c in blocks.cases()]
    return {
        "df": df,
        "summary": summary_table(df),
        "resources": resource_table(df),
        "conclusions": conclusions(df),
        "accuracy_png": f"{link_prefix}/{bars.name}",
        "accuracy_csv": f"{link_prefix}/{bars.with_suffix('.csv').name}",
        "heatmaps": heatmaps(df_all, records, results_dirs, figures_dir),
        "missing": [c for c in expected if c not in set(df["case_id"])],
        "problems": per_seed[per_seed["status"] != "passed"],
        "pareto": pareto_part(df, figures_dir, link_prefix),
        "link_prefix": link_prefix,
        "memory_method": next(
            iter(df.get("model.peak_memory_method", pd.Series(dtype=object)).dropna()), "not measured"
        ),
        "profiles": blocks.PROFILES,
    }
