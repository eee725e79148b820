"""``sbh`` report, sections with figures: per combo, write-up 000's combos and sweeps, Pareto."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.settings import lr_text
from reports import stats
from reports.figures import grouped_bars, lines, pareto
from reports.sbh.summaries import blocks_words, rank_line, tradeoff
from reports.sbh.tables import PRIMARY, complete_blocks, label, pivot_by, structure_by_backbone, structure_means
from reports.speed import SideBySide
from studies import sbh


def figure_entry(path: Path, link_prefix: str, title: str, table: pd.DataFrame, floatfmt: str = ".4f") -> dict:
    return {
        "title": title,
        "png": f"{link_prefix}/{path.name}",
        "csv": f"{link_prefix}/{path.with_suffix('.csv').name}",
        "table": table,
        "floatfmt": floatfmt,
    }


def combos_words(data: pd.DataFrame) -> str:
    """What each backbone's bars average over: "mean over 6 combos" where every backbone ran the same
    combos, else per backbone: "resnet18: mean over 6 combos; resnet34, resnet50: digits 0,1,2 only"."""
    held = data.groupby("backbone")["digits"].agg(lambda s: tuple(sorted(set(s))))
    held = held.reindex([b for b in sbh.BACKBONES if b in held.index])

    def one(combos: tuple) -> str:
        return f"mean over {len(combos)} combos" if len(combos) > 1 else f"digits {combos[0]} only"

    if held.nunique() == 1:
        return one(held.iloc[0])
    groups: dict[tuple, list[str]] = {}
    for backbone, combos in held.items():
        groups.setdefault(combos, []).append(backbone)
    return "; ".join(f"{', '.join(names)}: {one(combos)}" for combos, names in groups.items())


def backbones_words(data: pd.DataFrame, column: str) -> str:
    """Which backbones a point along ``column`` averages: "resnet18 only", "mean over resnet18, resnet34"."""
    names = [b for b in sbh.BACKBONES if b in set(data["backbone"])]
    if len(names) == 1:
        return f"{names[0]} only"
    everywhere = data.groupby(column)["backbone"].nunique().eq(len(names)).all()
    return f"mean over {', '.join(names)}{'' if everywhere else ' where measured'}"


def combos_section(df: pd.DataFrame, figures_dir: Path, link_prefix: str, sbs: SideBySide | None = None) -> dict | None:
    """Write-up 000 section 3-1: the grid on six combos, averaged over combos and per combo."""
    # A block is one seed too: a structure whose other seeds have not run yet must not be averaged
    # against structures that have them.
    data = complete_blocks(df[df["experiment"].isin(["writeup001", "combos"])], ["digits", "backbone", "seed"])
    if not data["experiment"].eq("combos").any():
        return None
    by_structure = structure_by_backbone(data, PRIMARY, "mean")
    time_by_structure = structure_by_backbone(data, "inference_s", "mean")
    by_combo = pivot_by(data, "digits", "backbone")
    # Combos are ranked on the backbones every combo has, so one combo's extra ResNet-50 runs
    # do not make it look hard.
    common = set.intersection(*(set(g["backbone"]) for _, g in data.groupby("digits")))
    combo_means = data[data["backbone"].isin(common)].groupby("digits")[PRIMARY].mean()
    means = structure_means(data)
    ranked_line, ranked = rank_line(data, ["digits", "backbone"], f"`{PRIMARY}` over these cases")
    timed = data[data["inference_s"].notna()]
    over = f"{combos_words(data)}; {stats.seeds_words(data)}"
    timed_over = f"{combos_words(timed)}; {stats.seeds_words(timed)}"
    per_combo = f"mean over {data['structure'].nunique()} structures; {stats.seeds_words(data)}"
    return {
        "digit_sets": sorted(data["digits"].unique()),
        "cases": len(data),
        "means": means,
        "ranking": ranked,
        "lines": [
            f"Matched cells: {blocks_words(data, ['digits', 'backbone'])}.",
            ranked_line,
            f"Lowest mean combo **{combo_means.idxmin()}** ({combo_means.min():.4f} mean over structures on "
            f"{', '.join(sorted(common))}), "
            f"highest mean **{combo_means.idxmax()}** ({combo_means.max():.4f}).",
            tradeoff(data, ["digits", "backbone"], sbs),
        ],
        "figures": [
            figure_entry(
                grouped_bars(
                    by_structure,
                    figures_dir / "combos_acc_by_structure.png",
                    title=f"{PRIMARY} by structure\n{over}",
                    ylabel="test accuracy",
                    zoom=True,
                    ymax=1.0,
                ),
                link_prefix,
                f"`{PRIMARY}` by structure ({over})",
                by_structure,
            ),
            figure_entry(
                grouped_bars(
                    time_by_structure,
                    figures_dir / "combos_inference_by_structure.png",
                    title=f"inference time by structure\n{timed_over}",
                    ylabel="seconds (median of rounds)",
                ),
                link_prefix,
                f"inference time (s) by structure ({timed_over})",
                time_by_structure,
                ".3f",
            ),
            figure_entry(
                grouped_bars(
                    by_combo,
                    figures_dir / "combos_acc_by_combo.png",
                    title=f"{PRIMARY} by digit combo\n{per_combo}",
                    ylabel="test accuracy",
                    zoom=True,
                    ymax=1.0,
                ),
                link_prefix,
                f"`{PRIMARY}` by digit combo ({per_combo})",
                by_combo,
            ),
        ],
    }


def sweep_section(df: pd.DataFrame, experiment: str, figures_dir: Path, link_prefix: str) -> dict | None:
    """Write-up 000 sections 3-2 / 3-3: accuracy along a swept value, per structure and averaged."""
    column, name = ("train_size", "train images") if experiment == "size" else ("lr", "learning rate")
    data = complete_blocks(df[df["experiment"] == experiment], [column, "backbone", "seed"])
    if data.empty:
        return None
    curve = pivot_by(data, column, "structure")
    curve.index.name = name
    over = f"{backbones_words(data, column)}; {stats.seeds_words(data)}"
    value_text = (lambda v: f"{v:g}") if experiment == "size" else lr_text  # rates as the write-ups write them
    tick_labels = [value_text(v) for v in curve.index]
    curve_png = lines(
        curve,
        figures_dir / f"{experiment}_acc_curve.png",
        title=f"{PRIMARY} vs {name} (digits {','.join(map(str, sbh.SWEEP_DIGITS))})\n{over}",
        xlabel=name,
        ylabel="test accuracy",
        logx=True,
        xtick_labels=tick_labels,
        ymax=1.0,
    )
    if experiment == "size":
        buckets = {size: bucket for bucket, sizes in sbh.SIZE_BUCKETS.items() for size in sizes}
        grouped = data.assign(bucket=data["train_size"].map(buckets))
        averages = pivot_by(grouped, "bucket", "structure").reindex(
            [b for b in sbh.SIZE_BUCKETS if b in set(grouped["bucket"])]
        )
        averages.index = [bucket_label(b, grouped.loc[grouped["bucket"] == b, "train_size"]) for b in averages.index]
        averages.index.name = "size bucket"
        avg_title = f"`{PRIMARY}` per size bucket and structure"
    else:
        averages = pivot_by(data, "lr", "structure")
        averages.index = [lr_text(v) for v in averages.index]
        averages.index.name = "learning rate"
        avg_title = f"`{PRIMARY}` per learning rate and structure"
    averages["mean of structures"] = averages.mean(axis=1)
    bars = averages.drop(columns="mean of structures")
    avg_png = grouped_bars(
        bars,
        figures_dir / f"{experiment}_acc_averages.png",
        title=f"{avg_title}\n{over}".replace("`", ""),
        ylabel="test accuracy",
        zoom=True,
        ymax=1.0,
    )
    means = structure_means(data)
    labelled = data.sort_values(column, kind="stable").assign(value=lambda d: d[column].map(value_text))
    best_per_value = curve.idxmax(axis=1)
    wins = best_per_value.value_counts()
    leaders = [name for name, count in wins.items() if count == wins.max()]
    ranked_line, ranked = rank_line(data, [column, "backbone"], f"`{PRIMARY}` over these cases")
    lines_ = [
        f"Matched cells: {blocks_words(labelled, ['value', 'backbone'])}.",
        ranked_line,
        "Highest mean at each value: "
        + ", ".join(f"{v} → {s}" for v, s in zip(tick_labels, best_per_value, strict=True))
        + f" (most often {' and '.join(f'**{name}**' for name in leaders)}, {wins.max()} of {len(best_per_value)}"
        + f"{' each' if len(leaders) > 1 else ''})"
        + ("; one seed per cell, so each of these is untested." if data["seed"].nunique() < 2 else "."),
    ]
    per_value = curve.mean(axis=1)
    lines_.append(
        f"Mean over structures goes from {per_value.iloc[0]:.4f} at {tick_labels[0]} to "
        f"{per_value.iloc[-1]:.4f} at {tick_labels[-1]} "
        f"(highest {per_value.max():.4f} at {tick_labels[int(per_value.to_numpy().argmax())]})."
    )
    return {
        "cases": len(data),
        "means": means,
        "ranking": ranked,
        "lines": lines_,
        "figures": [
            figure_entry(
                curve_png,
                link_prefix,
                f"`{PRIMARY}` vs {name}, one line per structure ({over})",
                curve.rename(index=value_text),
            ),
            figure_entry(avg_png, link_prefix, f"{avg_title} ({over})", averages),
        ],
    }


def bucket_label(bucket: str, sizes: pd.Series) -> str:
    """A size bucket named by what the records hold in it: "400-1.6K (ran: 400)" where only some of
    its sizes ran (the CPU default runs the first of each), the bucket's name where all did."""
    ran = sorted(set(sizes))
    if ran == sorted(sbh.SIZE_BUCKETS[bucket]):
        return bucket
    return f"{bucket} (ran: {', '.join(f'{v:g}' for v in ran)})"


def pareto_part(df: pd.DataFrame, figures_dir: Path, link_prefix: str, sbs: SideBySide | None = None) -> dict | None:
    """Write-up 001's accuracy/speed trade-off as a figure: every structure x backbone on (0,1,2),
    accuracy from the records, time per batch of 32 from the side-by-side record (one process)."""
    data = df[df["measured"] & (df["experiment"] == "writeup001")] if not df.empty else df
    if data.empty or sbs is None:
        return None
    points = data.groupby(["structure", "backbone"])[[PRIMARY]].mean().reset_index()
    points["configuration"] = points["structure"].map(label) + " " + points["backbone"]
    points["latency_b32_s"] = [
        sbs.median("inference", f"{s}-{b}") for s, b in zip(points["structure"], points["backbone"], strict=True)
    ]
    front = stats.pareto_front(points, PRIMARY, "latency_b32_s")
    path = pareto(
        points,
        figures_dir / "d012_pareto.png",
        x="latency_b32_s",
        y=PRIMARY,
        label="configuration",
        front=front,
        title=f"{PRIMARY} ({stats.seeds_words(data)}) vs time side by side, digits 0,1,2",
        xlabel="seconds per batch of 32, median of rounds side by side (log scale)",
        ylabel="test accuracy",
        ymax=1.0,
    )
    named = points[front].sort_values("latency_b32_s")
    return {
        "png": f"{link_prefix}/{path.name}",
        "csv": f"{link_prefix}/{path.with_suffix('.csv').name}",
        "front": named[["configuration", PRIMARY, "latency_b32_s"]],
        "source": sbs.words(),
    }


def reproduce_command(experiment: str, digits: str) -> str:
    tag = sbh.digits_tag(tuple(int(d) for d in digits.split(",")))
    if experiment == "custom":
        return f"pytest benchmarks -m {sbh.STUDY.experiment('custom').marker} --digits {digits}"
    if experiment == "combos":
        return f"{sbh.STUDY.experiment('combos').command} -k {tag}"
    return sbh.STUDY.experiment("writeup001").command
