"""Tables, figures and computed statements for the ``blocks`` document (write-up 003's layout).

Every comparison with write-up 003 names the budget of both sides; a number is compared
("agree" / "differs") only when our records ran the author's protocol (profile ``writeup``),
otherwise it is "not comparable (different budget)". Which network is better is said only
when the difference exceeds the spread of our seeds; with one seed it is "one seed, untested".
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from harness.records import STATUSES
from harness.settings import lr_text
from reports import markers, stats, versus
from reports.figures import curves_against, grouped_bars, heatmap_grid, pareto, summed_maps
from reports.load import busiest_machine, distinct, find_artifact, machine, measured, precision_words
from studies import blocks

FOUR_COLUMNS = ["acc", "loss", "test_acc", "test_loss"]


def cases_frame(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame[frame["case_id"] != blocks.HEATMAP_ID].rename(columns=lambda c: c.removeprefix("metrics.")).copy()
    df["network"] = df["params.network"]
    df["doc"] = df.get("model.description", None)
    df["acc"], df["loss"] = df.get("train_acc"), df.get("train_loss")
    df["measured"] = measured(df)
    order = {name: i for i, name in enumerate([*blocks.NETWORKS, blocks.REFERENCE])}
    return df.sort_values(["network", "seed"], key=lambda s: s.map(order) if s.name == "network" else s)


def over_seeds(df: pd.DataFrame) -> pd.DataFrame:
    """One row per network: numeric columns averaged over measured seeds, the worst status kept,
    ``test_acc_ci`` (95 % half-width, NaN with one seed), the seeds' lowest and highest test accuracy."""
    rank = {status: i for i, status in enumerate(STATUSES)}  # worst last
    rows = []
    for network, group in df.groupby("network", sort=False):
        ok = group[group["measured"]]
        row = group.iloc[0].copy()
        numeric = ok.select_dtypes("number").mean()
        row[numeric.index] = numeric
        row["status"] = max(group["status"], key=lambda s: rank.get(s, 5))
        row["measured"] = bool(len(ok))
        row["test_acc_ci"] = stats.ci_halfwidth(ok["test_acc"]) if len(ok) else np.nan
        row["test_acc_min"] = ok["test_acc"].min() if len(ok) else np.nan
        row["test_acc_max"] = ok["test_acc"].max() if len(ok) else np.nan
        row["seeds"] = len(ok)
        row.name = network
        rows.append(row)
    out = pd.DataFrame(rows)
    out.index.name = "network"
    return out


def budget(per_seed: pd.DataFrame) -> dict:
    """What every number of the document was trained with, read from the records."""
    values = partial(distinct, per_seed)
    return {
        "profiles": values("profile"),
        "epochs": [int(v) for v in values("budget.epochs")],
        "train_images": [int(v) for v in values("budget.train_images")],
        "lr": [lr_text(v) for v in values("budget.lr")],
        "loss": values("params.loss") or ["cross-entropy on logits"],
        "seeds": sorted({int(s) for s in per_seed["seed"]}),
        "precision": precision_words(per_seed),
        "batches": {n: int(b) for n, b in per_seed.groupby("network")["budget.batch_size"].first().items()},
        "devices": values("environment.gpu") or values("environment.cpu"),
        "present": int(per_seed["network"].nunique()),
        "expected": len(blocks.cases()),
    }


def writeup_protocol(per_seed: pd.DataFrame) -> bool:
    """Whether these records ran the author's protocol, so that their numbers compare with the write-up's."""
    return set(per_seed["profile"]) == {"writeup"}


def comparison_table(per_seed: pd.DataFrame, comparable: bool, budget_words: str) -> pd.DataFrame:
    """Per network: write-up 003's test accuracy, ours (mean, 95 % CI with several seeds), the
    difference, and a verdict (reports/versus.py)."""
    writeup = blocks.writeup_results()
    ok = per_seed[per_seed["measured"]]
    rows = [
        versus.row(
            {"network": network},
            writeup[network]["test_acc"],
            ok.loc[ok["network"] == network, "test_acc"],
            comparable=comparable,
            budget_words=budget_words,
        )
        for network in blocks.NETWORKS
    ]
    table = pd.DataFrame(rows).set_index("network")
    return table.rename(columns={"write-up": "write-up test_acc"})


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
        rows.append(row)
    return pd.DataFrame(rows).set_index("block")


def epoch_curves(per_seed: pd.DataFrame, records: dict, figures_dir: Path, link_prefix: str) -> dict | None:
    """Our test accuracy after each epoch (mean over seeds) beside the author's logged runs."""
    ours: dict[str, dict[int, list[float]]] = {}
    for _, row in per_seed[per_seed["measured"]].iterrows():
        record = records.get((row["study"], row["case_id"], row["seed"]))
        for point in record.curves if record else []:
            ours.setdefault(row["network"], {}).setdefault(int(point["epoch"]), []).append(point["eval_acc"])
    if not ours or max(len(v) for v in ours.values()) < 2:
        return None  # one epoch is a point, not a curve
    theirs = blocks.writeup_curves()
    seeds = stats.seeds_words(per_seed[per_seed["measured"]])
    table = pd.DataFrame(
        {
            **{f"{n} (ours)": {e: float(np.mean(v)) for e, v in epochs.items()} for n, epochs in ours.items()},
            **{f"{n} (write-up)": curve for n, curve in theirs.items() if n in ours},
        }
    ).sort_index()
    table.index.name = "epoch"
    path = curves_against(
        table,
        figures_dir / "blocks_epoch_curves.png",
        title=f"test accuracy after each epoch: ours (solid, {seeds}) vs write-up 003's runs (dashed)",
        xlabel="epoch",
        ylabel="test accuracy",
        ymax=1.0,
    )
    return {
        "png": f"{link_prefix}/{path.name}",
        "csv": f"{link_prefix}/{path.with_suffix('.csv').name}",
        "table": table,
    }


TIMES = {"train_s": "train s", "s_per_epoch": "s / epoch", "inference_s": "inference s (10k test)"}


def timed_seeds(per_seed: pd.DataFrame) -> pd.DataFrame:
    """The measured records whose times are compared: those of one machine
    (``environment.fingerprint``, which includes the thread count), the one on which most block
    networks (the heatmap partner aside) were timed, then most records. Seconds from two machines,
    or from one CPU at 1 and at 2 threads, are not like with like, so the others' times are left out."""
    ok = per_seed[per_seed["measured"]]
    if ok.empty:
        return ok
    on = machine(ok)
    return ok[on == busiest_machine(on, ok["network"].where(ok["network"] != blocks.REFERENCE))]


def timing_words(timed: pd.DataFrame) -> str | None:
    """The compared times' machine in words: CPU or GPU, thread count, fingerprint."""
    if timed.empty:
        return None
    row = timed.iloc[0]
    device = row.get("environment.gpu") if isinstance(row.get("environment.gpu"), str) else row.get("environment.cpu")
    threads = row.get("environment.torch_threads")
    return (
        f"{device or 'unknown device'}"
        + (f", {int(threads)} torch thread(s)" if pd.notna(threads) else "")
        + f", machine {machine(timed).iloc[0]}"
    )


def resource_table(df: pd.DataFrame, timed: pd.DataFrame) -> pd.DataFrame:
    ok = df[df["measured"]]
    times = timed.groupby("network")[list(TIMES)].mean().reindex(ok.index)
    seeds_timed = timed.groupby("network").size().reindex(ok.index).fillna(0).astype(int)
    # images per second of the mean time, not the mean of per-seed rates (one slow seed would skew that)
    images = (timed["inference_images_per_s"] * timed["inference_s"]).groupby(timed["network"]).mean()
    table = pd.DataFrame(
        {
            "params": ok["model.params"].astype(int),
            "MFLOPs / image": ok["model.flops_per_image"] / 1e6,
            "peak train memory (MiB)": ok["model.peak_memory_bytes"] / 2**20,
            "batch": ok["budget.batch_size"].astype(int),
            **{label: times[column] for column, label in TIMES.items()},
            "images / s": images.reindex(ok.index) / times["inference_s"],
            "seeds timed": seeds_timed,
            "seeds timed elsewhere": ok["seeds"].astype(int) - seeds_timed,
            "conv depth": ok["model.conv_depth"].astype(int),
        }
    )
    table.index.name = "network"
    return table


def resources_reading(df: pd.DataFrame, timed: pd.DataFrame, devices: list[str]) -> list[str]:
    """What our measurements say about write-up 003's remark that the transformer used the most
    GPU memory and time, on the device they come from; times only between records of one
    machine (``timed_seeds``)."""
    ok = df[df["measured"] & (df["network"] != blocks.REFERENCE)]
    if ok.empty or "model.peak_memory_bytes" not in ok:
        return []
    on = ", ".join(devices) or "this device"
    memory = ok["model.peak_memory_bytes"] / 2**20
    per_image = memory / ok["budget.batch_size"]
    timed = timed[timed["network"].isin(ok.index)]
    epoch_s = timed.groupby("network")["s_per_epoch"].mean()
    top = memory.idxmax()
    lines = [
        f"Training memory ({on}): **{top}** needs the most at its batch size ({memory[top]:.1f} MiB at batch "
        f"{int(ok.loc[top, 'budget.batch_size'])}); per image, **{per_image.idxmax()}** needs the most "
        f"({per_image.max() * 1024:.0f} KiB)."
    ]
    slow = epoch_s.idxmax() if len(epoch_s) else None
    if slow is not None:
        untimed = sorted(set(ok.index) - set(epoch_s.index))
        lines.append(
            f"Training time ({timing_words(timed)}): **{slow}** is the slowest "
            f"({epoch_s[slow]:.1f} s per epoch) of the {len(epoch_s)} networks timed there"
            + (f"; not compared: {', '.join(untimed)} (not timed on that machine)." if untimed else ".")
        )
    agrees = top == "transformer" or per_image.idxmax() == "transformer"
    timed_transformer = "transformer" in epoch_s.index
    time_word = ("agrees" if slow == "transformer" else "disagrees") if timed_transformer else "is not tested"
    lines.append(
        "Write-up 003 says the transformer used the most GPU memory and time (its batch had to be cut to 50). "
        + ("Our measurements agree" if agrees and slow == "transformer" else "Our measurements do not all agree")
        + f": memory {'agrees' if agrees else 'disagrees'} "
        + f"({'per image' if per_image.idxmax() == 'transformer' else 'at the batch sizes used'}), "
        f"time {time_word}"
        + ("" if timed_transformer else " (the transformer was not timed on the machine the others were)")
        + ". Ours are CPU figures (peak bytes of one training step, seconds per epoch), the write-up's a GPU's."
    )
    return lines


def conclusions(df: pd.DataFrame) -> list[str]:
    """Which block network is most accurate, worded by evidence: "better" only beyond the seeds' spread."""
    ok = df[df["measured"] & (df["network"] != blocks.REFERENCE)].sort_values("test_acc", ascending=False)
    if ok.empty:
        return []
    best = ok.index[0]
    if len(ok) == 1:
        return [f"Only **{best}** ran ({ok.loc[best, 'test_acc']:.4f})."]
    second = ok.index[1]
    seeds = int(min(ok.loc[best, "seeds"], ok.loc[second, "seeds"]))
    spread = max(
        ok.loc[best, "test_acc_max"] - ok.loc[best, "test_acc_min"],
        ok.loc[second, "test_acc_max"] - ok.loc[second, "test_acc_min"],
    )
    a, b = ok.loc[best, "test_acc"], ok.loc[second, "test_acc"]
    word = stats.gap_words(best, a, second, b, spread=spread, seeds=seeds)
    lines = [f"Most accurate block network: {word}. Lowest: **{ok.index[-1]}** ({ok['test_acc'].iloc[-1]:.4f})."]
    writeup = blocks.writeup_results()
    writeup_order = sorted(writeup, key=lambda n: -writeup[n]["test_acc"])
    ours_order = list(ok.index)
    lines.append(
        f"Write-up 003's order by test accuracy: {' > '.join(writeup_order)}; ours: {' > '.join(ours_order)} "
        f"(differences inside the seed spread are ties)."
    )
    return lines


def heatmaps(frame: pd.DataFrame, records: dict, results_dirs: list[Path], figures_dir: Path) -> dict | None:
    rows = frame[frame["case_id"] == blocks.HEATMAP_ID]
    for _, row in rows.iterrows():
        record = records[(row["study"], row["case_id"], row["seed"])]
        path = find_artifact(results_dirs, "blocks", record.artifacts.get("attributions"))
        if path is None:
            continue
        arrays = dict(np.load(path))
        networks = record.params["networks"]
        out = {
            "networks": networks,
            "params": record.params,
            "metrics": record.metrics,
            "status": record.status,
            "seed": int(row["seed"]),
        }
        out["per_digit_png"] = heatmap_grid(arrays, networks, figures_dir / "blocks_heatmaps.png").name
        method = record.params.get("writeup_method")
        if method and all(f"writeup_attr_{n}" in arrays for n in method["networks"]):
            out["writeup_png"] = summed_maps(
                arrays, method["networks"], figures_dir / "blocks_heatmaps_writeup.png"
            ).name
        return out
    return None


def build(
    df_all: pd.DataFrame, figures_dir: Path, link_prefix: str, *, records: dict, results_dirs: list[Path]
) -> dict:
    per_seed = cases_frame(df_all)
    per_seed["mark"] = markers.case_marks(per_seed, "test_acc", current_threshold=_asserted_now, group="network")
    network_marks = per_seed.groupby("network")["mark"].agg(
        lambda marks: "".join(m for m in markers.MEANING if any(m in x for x in marks))
    )
    df = over_seeds(per_seed)
    df["mark"] = network_marks.reindex(df.index).fillna("")
    ok = df[df["measured"]]
    timed = timed_seeds(per_seed)
    spent = budget(per_seed)
    comparable = writeup_protocol(per_seed)
    budget_words = (
        f"{'/'.join(spent['profiles'])} profile, {'/'.join(map(str, spent['epochs']))} epoch(s) on "
        f"{'/'.join(f'{n:,}' for n in spent['train_images'])} images, {'; '.join(spent['loss'])}"
    )
    errors = ok["test_acc_ci"] if ok["seeds"].max() > 1 else None
    seeds = stats.seeds_words(per_seed[per_seed["measured"]])
    vs = pd.DataFrame(
        {
            "ours": ok["test_acc"],
            "write-up 003": [blocks.writeup_results().get(n, {}).get("test_acc", np.nan) for n in ok.index],
        },
        index=ok.index,
    )
    vs.columns.name = "test accuracy"
    bars = grouped_bars(
        vs,
        figures_dir / "blocks_accuracy.png",
        title=f"test accuracy: ours ({seeds}) vs write-up 003"
        + ("\nerror bars: 95 % CI over seeds" if errors is not None else ""),
        ylabel="test accuracy",
        zoom=True,
        flagged=pd.DataFrame({"ours": ok["status"] == "failed", "write-up 003": False}),
        errors=pd.DataFrame({"ours": errors}) if errors is not None else None,
        ymax=1.0,
    )
    return {
        "df": df,
        "budget": spent,
        "budget_words": budget_words,
        "comparable": comparable,
        "comparison": _marked(comparison_table(per_seed, comparable, budget_words), network_marks),
        "summary": _marked(summary_table(df), network_marks),
        "footnote": markers.footnote(per_seed["mark"]),
        "curves": epoch_curves(per_seed, records, figures_dir, link_prefix),
        "resources": resource_table(df, timed),
        "timing_machine": timing_words(timed),
        "resources_reading": resources_reading(df, timed, spent["devices"]),
        "conclusions": conclusions(df),
        "accuracy_png": f"{link_prefix}/{bars.name}",
        "accuracy_csv": f"{link_prefix}/{bars.with_suffix('.csv').name}",
        "heatmaps": heatmaps(df_all, records, results_dirs, figures_dir),
        "missing": [c.id for c in blocks.cases() if c.id not in set(per_seed["case_id"])],
        "problems": per_seed[per_seed["status"] != "passed"],
        "pareto": pareto_part(df, timed, figures_dir, link_prefix, seeds=seeds),
        "link_prefix": link_prefix,
        "memory_method": next(
            iter(df.get("model.peak_memory_method", pd.Series(dtype=object)).dropna()), "not measured"
        ),
        "agree_within": versus.MARGIN,
    }


def _asserted_now(row: pd.Series) -> float | None:
    """The minimum test accuracy the study asserts today for this record's profile and network."""
    settings = blocks.PROFILES.get(row.get("profile"))
    return settings.thresholds.get(row.get("network"), {}).get("test_acc") if settings else None


def _marked(table: pd.DataFrame, marks: pd.Series) -> pd.DataFrame:
    """The table's network labels with their records' markers (reports/markers.py)."""
    name = table.index.name
    table = table.rename(index=lambda n: f"{n} {marks.get(n, '')}".strip())
    table.index.name = name
    return table


def pareto_part(
    df: pd.DataFrame, timed: pd.DataFrame, figures_dir: Path, link_prefix: str, *, seeds: str
) -> dict | None:
    """Mean test accuracy over all seeds (``seeds``: in words) against mean inference time over the
    seeds of one machine."""
    ok = df[df["measured"]]
    inference_s = timed.groupby("network")["inference_s"].mean()
    ok = ok[ok.index.isin(inference_s.index)]
    if len(ok) < 2:
        return None
    points = pd.DataFrame({"network": ok.index, "test_acc": ok["test_acc"], "inference_s": inference_s[ok.index]})
    points = points.reset_index(drop=True)
    front = stats.pareto_front(points, "test_acc", "inference_s")
    path = pareto(
        points,
        figures_dir / "blocks_pareto.png",
        x="inference_s",
        y="test_acc",
        label="network",
        front=front,
        title=f"test accuracy ({seeds}) vs inference time\n(times: {stats.seeds_words(timed)}, one machine)",
        xlabel="inference time for the 10,000 test images (s)",
        ylabel="test accuracy",
        ymax=1.0,
    )
    return {"png": f"{link_prefix}/{path.name}", "front": points[front].sort_values("inference_s")}
