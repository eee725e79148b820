"""Tables, figures and computed statements for the ``blocks`` document (write-up 003's layout).

Every comparison with write-up 003 names the budget of both sides; a number is compared
("agree" / "differs") only when our records ran the author's protocol (profile ``writeup``),
otherwise it is "not comparable (different budget)". Which network is better is decided by
the one comparison rule (reports/comparison.py); times and costs compared between networks come
from the side-by-side record (study ``speed``), never from records of separate processes.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from harness.records import STATUSES
from harness.settings import lr_text
from reports import comparison, markers, stats, versus
from reports.catalog import _
from reports.figures import curves_against, grouped_bars, heatmap_grid, pareto, summed_maps
from reports.load import busiest_machine, distinct, find_artifact, machine, measured, precision_words
from reports.speed import SideBySide, side_by_side
from studies import blocks, speed

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
    for _index, row in per_seed[per_seed["measured"]].iterrows():
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


def resource_table(df: pd.DataFrame, timed: pd.DataFrame, sbs: SideBySide | None = None) -> pd.DataFrame:
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
    if sbs is not None:
        # The costs measured afresh beside each other (attention counted, the author's attention path).
        nets = sbs.networks
        table["MFLOPs / image"] = [nets[n]["flops_per_image"] / 1e6 if n in nets else np.nan for n in table.index]
        table["peak train memory (MiB)"] = [
            nets[n]["peak_memory_bytes"] / 2**20 if n in nets else np.nan for n in table.index
        ]
        table["batch"] = [
            nets[n]["batch"] if n in nets else b for n, b in zip(table.index, table["batch"], strict=True)
        ]
    table.index.name = "network"
    return table


def resources_reading(sbs: SideBySide | None) -> list[str]:
    """Write-up 003's remark that the transformer used the most memory and time, checked on the
    side-by-side record: memory of one training step (the transformer on the author's attention
    path, which builds the attention map), forward FLOPs with the attention products, and the
    time per image of a training step, compared by the one rule."""
    if sbs is None:
        return ["Resources: not compared (no side-by-side record `speed/writeup003`; `pytest benchmarks -m speed`)."]
    nets = sbs.networks
    memory = {n: v["peak_memory_bytes"] / 2**20 for n, v in nets.items()}
    per_image = {n: memory[n] / nets[n]["batch"] for n in nets}
    flops = {n: v["flops_per_image"] / 1e6 for n, v in nets.items()}
    top_batch, top_image, top_flops = (max(d, key=d.get) for d in (memory, per_image, flops))
    per_step = sorted(nets, key=lambda n: -sbs.median(speed.TRAIN_STEP, n, per_image=True))
    slowest = comparison.ranking(
        per_step,
        lambda a, b: sbs.versus(a, b, phase=speed.TRAIN_STEP, per_image=True),
        what="write-up 003 training time per image",
        best_word="slowest",
        slower=True,
    )
    path = sbs.record.side_by_side.get("attention_path") or "as trained"
    lines = [
        f"Training memory (one step at the author's batch; transformer: {path}): most at its batch "
        f"**{top_batch}** ({memory[top_batch]:.1f} MiB at batch {nets[top_batch]['batch']}); most per image "
        f"**{top_image}** ({per_image[top_image] * 1024:.0f} KiB, next "
        + ", ".join(f"{n} {per_image[n] * 1024:.0f}" for n in sorted(per_image, key=per_image.get, reverse=True)[1:3])
        + " KiB). These are exact byte counts, not timings: no interval.",
        f"Forward FLOPs per image (attention products counted): most **{top_flops}** ({flops[top_flops]:.1f} M; "
        + ", ".join(f"{n} {flops[n]:.1f} M" for n in nets if n != top_flops)
        + ").",
        _("Training time per image, one step at the author's batch, side by side: {ranking}.", ranking=slowest["text"]),
    ]
    memory_holds = top_batch == "transformer" and top_image == "transformer"
    time_verdict = (
        "holds"
        if slowest["named"] and slowest["leader"] == "transformer"
        else ("tie (within noise)" if "transformer" in slowest["tied"] else "does not hold")
    )
    lines.append(
        "Write-up 003 says the transformer used the most GPU memory and time (its batch had to be cut to 50): "
        f"memory {'holds' if memory_holds else 'does not hold'} here (at its batch and per image), time "
        f"{time_verdict} (per image, side by side). Ours are CPU figures ({sbs.words()}); the write-up's a GPU's."
    )
    return lines


def conclusions(df: pd.DataFrame, per_seed: pd.DataFrame) -> list[str]:
    """Which block network is most accurate, by the one comparison rule (units: each network's seeds)."""
    ok = df[df["measured"] & (df["network"] != blocks.REFERENCE)].sort_values("test_acc", ascending=False)
    if ok.empty:
        return []
    if len(ok) == 1:
        return [_("Only {a} ran ({x}).", a=f"**{ok.index[0]}**", x=f"{ok['test_acc'].iloc[0]:.4f}")]
    runs = per_seed[per_seed["measured"] & per_seed["network"].isin(ok.index)]
    ranked = comparison.ranking(
        list(ok.index),
        lambda a, b: comparison.accuracy(runs, "network", a, b, "test_acc", []),
        what="write-up 003 test accuracy",
        best_word="most accurate",
    )
    lowest, value = f"**{ok.index[-1]}**", f"{ok['test_acc'].iloc[-1]:.4f}"
    lines = [_("Test accuracy: {ranking}. Lowest mean: {a} ({x}).", ranking=ranked["text"], a=lowest, x=value)]
    writeup = blocks.writeup_results()
    writeup_order = sorted(writeup, key=lambda n: -writeup[n]["test_acc"])
    lines.append(
        f"Write-up 003's order by test accuracy: {' > '.join(writeup_order)}; ours by mean: {' > '.join(ok.index)} "
        "(an order by means; only the comparisons above are tested)."
    )
    return lines


def heatmaps(frame: pd.DataFrame, records: dict, results_dirs: list[Path], figures_dir: Path) -> dict | None:
    rows = frame[frame["case_id"] == blocks.HEATMAP_ID]
    for _index, row in rows.iterrows():
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
    sbs = side_by_side(records, "writeup003")
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
        "resources": resource_table(df, timed, sbs),
        "timing_machine": timing_words(timed),
        "resources_reading": resources_reading(sbs),
        "conclusions": conclusions(df, per_seed),
        "accuracy_png": f"{link_prefix}/{bars.name}",
        "accuracy_csv": f"{link_prefix}/{bars.with_suffix('.csv').name}",
        "heatmaps": heatmaps(df_all, records, results_dirs, figures_dir),
        "missing": [c.id for c in blocks.cases() if c.id not in set(per_seed["case_id"])],
        "problems": per_seed[per_seed["status"] != "passed"],
        "pareto": pareto_part(df, sbs, figures_dir, link_prefix, seeds=seeds),
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
    df: pd.DataFrame, sbs: SideBySide | None, figures_dir: Path, link_prefix: str, *, seeds: str
) -> dict | None:
    """Mean test accuracy over all seeds (``seeds``: in words) against inference time per image
    side by side (one process)."""
    ok = df[df["measured"]]
    if sbs is None:
        return None
    ok = ok[ok.index.isin(list(sbs.networks))]
    if len(ok) < 2:
        return None
    per_image = [sbs.median(speed.INFERENCE, n, per_image=True) * 1e3 for n in ok.index]
    points = pd.DataFrame({"network": ok.index, "test_acc": ok["test_acc"], "inference_ms_per_image": per_image})
    points = points.reset_index(drop=True)
    front = stats.pareto_front(points, "test_acc", "inference_ms_per_image")
    path = pareto(
        points,
        figures_dir / "blocks_pareto.png",
        x="inference_ms_per_image",
        y="test_acc",
        label="network",
        front=front,
        title=f"test accuracy ({seeds}) vs inference time per image, side by side",
        xlabel="ms per image at the author's batch, median of rounds side by side",
        ylabel="test accuracy",
        ymax=1.0,
    )
    return {"png": f"{link_prefix}/{path.name}", "front": points[front].sort_values("inference_ms_per_image")}
