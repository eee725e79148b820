"""Tables, figures and computed statements for the ``sbh`` document (seed 001's layout)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

import models
from models.sbh import STRUCTURES
from reports import stats
from reports.figures import grouped_bars, lines, pareto
from reports.load import load_predictions
from studies import sbh

ACCURACY_METRICS = {
    "acc_mean_heads": "accuracy, mean of heads (seed experiment 1)",
    "acc_all_heads": "accuracy, all heads right (seed experiment 2)",
}
METRIC_COLUMNS = ["acc_all_heads", "acc_mean_heads", "acc_head_abc", "acc_head_a", "acc_head_b", "test_loss", "train_s", "inference_s"]
PRIMARY = "acc_all_heads"  # seed 000's charts compare one accuracy; ours is the stricter of the two
# Seed 000's own best / worst structures per experiment, quoted beside ours for comparison.
SEED000_SAID = {
    "combos": ("(1), (3)", "(4)-2"),
    "size": ("(1)", "(4)-2"),
    "lr": ("(2) at high rates; overall unclear", "unclear"),
}
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
    df["train_size"] = df.get("params.train_size", pd.Series(float("nan"), index=df.index)).astype(float)
    df["lr"] = df.get("params.lr", pd.Series(float("nan"), index=df.index)).astype(float)
    df["measured"] = df["status"].isin(["passed", "failed"])
    # Registry order (structure (1) first, resnet18 first), not alphabetical.
    rank = {name: i for i, name in enumerate(models.list_models())}
    order = ["digits", "train_size", "lr", "structure", "backbone"]
    return df.sort_values(order, key=lambda column: column.map(rank) if column.name in ("structure", "backbone") else column)


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


def ci_pivot(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """95 % CI half-width of a metric over seeds (NaN where one seed ran)."""
    return _structure_by_backbone(df[df["measured"]], column, stats.ci_halfwidth)


def shown(df: pd.DataFrame, column: str, fmt: str) -> pd.DataFrame:
    """The table a reader sees: means, with ``± CI`` once a case has several seeds."""
    means = pivot(df, column)
    if df.groupby("case_id")["seed"].nunique().max() < 2:
        return means
    return stats.with_ci(means, ci_pivot(df, column), fmt)


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
    """Seed 001's grid is always expected; another experiment (or --digits combo) once any of its cases ran."""
    experiments = set(df.get("params.experiment", pd.Series(dtype=object)))
    expected = [case.id for case in sbh.experiment_cases("seed001")]
    for name in ("combos", "size", "lr"):
        if name in experiments:
            expected += [case.id for case in sbh.experiment_cases(name)]
    custom = df[df["params.experiment"] == "custom"] if "params.experiment" in df else df.iloc[0:0]
    for digits in sorted({tuple(d) for d in custom.get("params.digits", [])}):
        expected += [case.id for case in sbh.grid(digits)]
    return expected


# --- seed 000: structures compared across combos, train sizes and learning rates ----------


def complete_blocks(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows of the (keys) blocks in which every registered structure was measured.

    Structure means are compared over the same blocks only; otherwise one missing case would
    move a structure's average by the difficulty of the cells it lacks.
    """
    structures = set(models.list_models(family="sbh"))
    measured = df[df["measured"]]
    if measured.empty:
        return measured
    full = measured.groupby(keys)["structure"].transform(lambda s: structures <= set(s))
    return measured[full.astype(bool)]


def structure_means(df: pd.DataFrame, metric: str = PRIMARY) -> pd.Series:
    means = df.groupby("structure")[metric].mean()
    return means.reindex([s for s in models.list_models(family="sbh") if s in means.index])


def _rank_line(means: pd.Series, what: str) -> str:
    best, worst = means.idxmax(), means.idxmin()
    return f"{what}: best **{label(best)}** ({means[best]:.4f}), worst **{label(worst)}** ({means[worst]:.4f})."


def _by(df: pd.DataFrame, index: str, columns: str, values: str = PRIMARY) -> pd.DataFrame:
    table = df.pivot_table(index=index, columns=columns, values=values, aggfunc="mean")
    if columns == "structure":
        table = table.reindex(columns=[s for s in models.list_models(family="sbh") if s in table.columns])
        table.columns = [label(s) for s in table.columns]
    if columns == "backbone":
        table = table.reindex(columns=[b for b in models.list_models(family="backbone") if b in table.columns])
    table.columns.name = columns
    return table


def _figure(path: Path, link_prefix: str, title: str, table: pd.DataFrame, floatfmt: str = ".4f") -> dict:
    return {"title": title, "png": f"{link_prefix}/{path.name}", "csv": f"{link_prefix}/{path.with_suffix('.csv').name}", "table": table, "floatfmt": floatfmt}


def combos_section(df: pd.DataFrame, figures_dir: Path, link_prefix: str) -> dict | None:
    """Seed 000 section 3-1: the grid on six combos, averaged over combos and per combo."""
    data = complete_blocks(df[df["experiment"].isin(["seed001", "combos"])], ["digits", "backbone"])
    if not data["experiment"].eq("combos").any():
        return None
    by_structure = _structure_by_backbone(data, PRIMARY, "mean")
    time_by_structure = _structure_by_backbone(data, "inference_s", "mean")
    by_combo = _by(data, "digits", "backbone")
    # Combos are ranked on the backbones every combo has, so one combo's extra ResNet-50 runs
    # do not make it look hard.
    common = set.intersection(*(set(g["backbone"]) for _, g in data.groupby("digits")))
    combo_means = data[data["backbone"].isin(common)].groupby("digits")[PRIMARY].mean()
    means = structure_means(data)
    return {
        "digit_sets": sorted(data["digits"].unique()),
        "cases": len(data),
        "means": means,
        "lines": [
            _rank_line(means, f"`{PRIMARY}` averaged over {data['digits'].nunique()} combos and {data['backbone'].nunique()} backbone(s)"),
            f"Hardest combo **{combo_means.idxmin()}** ({combo_means.min():.4f} mean over structures on {', '.join(sorted(common))}), "
            f"easiest **{combo_means.idxmax()}** ({combo_means.max():.4f}).",
            _tradeoff(data),
        ],
        "figures": [
            _figure(grouped_bars(by_structure, figures_dir / "combos_acc_by_structure.png", title=f"{PRIMARY}, mean over combos", ylabel="test accuracy", zoom=True), link_prefix, f"`{PRIMARY}` by structure, mean over combos", by_structure),
            _figure(grouped_bars(time_by_structure, figures_dir / "combos_inference_by_structure.png", title="inference time, mean over combos", ylabel="seconds (median of rounds)"), link_prefix, "inference time (s) by structure, mean over combos", time_by_structure, ".3f"),
            _figure(grouped_bars(by_combo, figures_dir / "combos_acc_by_combo.png", title=f"{PRIMARY}, mean over structures, per combo", ylabel="test accuracy", zoom=True), link_prefix, f"`{PRIMARY}` by digit combo, mean over structures", by_combo),
        ],
    }


def sweep_section(df: pd.DataFrame, experiment: str, figures_dir: Path, link_prefix: str) -> dict | None:
    """Seed 000 sections 3-2 / 3-3: accuracy along a swept value, per structure and averaged."""
    column, name = ("train_size", "train images") if experiment == "size" else ("lr", "learning rate")
    data = complete_blocks(df[df["experiment"] == experiment], [column, "backbone"])
    if data.empty:
        return None
    curve = _by(data, column, "structure")
    curve.index.name = name
    tick_labels = [f"{v:g}" if experiment == "size" else sbh.lr_tag(v).removeprefix("lr") for v in curve.index]
    curve_png = lines(curve, figures_dir / f"{experiment}_acc_curve.png", title=f"{PRIMARY} vs {name} (digits {','.join(map(str, sbh.SWEEP_DIGITS))}), mean over backbones", xlabel=name, ylabel="test accuracy", logx=True, xtick_labels=tick_labels)
    if experiment == "size":
        buckets = {size: bucket for bucket, sizes in sbh.SIZE_BUCKETS.items() for size in sizes}
        grouped = data.assign(bucket=data["train_size"].map(buckets))
        averages = _by(grouped, "bucket", "structure").reindex([b for b in sbh.SIZE_BUCKETS if b in set(grouped["bucket"])])
        averages.index.name = "size bucket"
        avg_title = f"`{PRIMARY}` per size bucket and structure"
    else:
        averages = _by(data, "lr", "structure")
        averages.index = [sbh.lr_tag(v).removeprefix("lr") for v in averages.index]
        averages.index.name = "learning rate"
        avg_title = f"`{PRIMARY}` per learning rate and structure"
    averages["mean of structures"] = averages.mean(axis=1)
    bars = averages.drop(columns="mean of structures")
    avg_png = grouped_bars(bars, figures_dir / f"{experiment}_acc_averages.png", title=avg_title.replace("`", ""), ylabel="test accuracy", zoom=True)
    means = structure_means(data)
    best_per_value = curve.idxmax(axis=1)
    wins = best_per_value.value_counts()
    leaders = [name for name, count in wins.items() if count == wins.max()]
    lines_ = [
        _rank_line(means, f"`{PRIMARY}` averaged over {curve.shape[0]} {name} values and {data['backbone'].nunique()} backbone(s)"),
        "Best structure at each value: " + ", ".join(f"{v} → {s}" for v, s in zip(tick_labels, best_per_value)) + f" (most often {' and '.join(f'**{name}**' for name in leaders)}, {wins.max()} of {len(best_per_value)}{' each' if len(leaders) > 1 else ''}).",
    ]
    per_value = curve.mean(axis=1)
    lines_.append(f"Mean over structures goes from {per_value.iloc[0]:.4f} at {tick_labels[0]} to {per_value.iloc[-1]:.4f} at {tick_labels[-1]} (best {per_value.max():.4f} at {tick_labels[int(per_value.to_numpy().argmax())]}).")
    return {
        "cases": len(data),
        "means": means,
        "lines": lines_,
        "figures": [
            _figure(curve_png, link_prefix, f"`{PRIMARY}` vs {name}, one line per structure (mean over backbones)", curve),
            _figure(avg_png, link_prefix, avg_title, averages),
        ],
    }


# comparison -> (experiments pooled, what makes a block besides the structure)
SIGNIFICANCE = {
    "digit combos (seed 001 and 000)": (["seed001", "combos", "custom"], ["digits", "backbone", "seed"]),
    "train sizes": (["size"], ["train_size", "backbone", "seed"]),
    "learning rates": (["lr"], ["lr", "backbone", "seed"]),
}


def significance(df: pd.DataFrame) -> list[dict]:
    """Do the structures differ? Friedman over (combo or swept value, backbone, seed) blocks."""
    out = []
    for name, (experiments, keys) in SIGNIFICANCE.items():
        data = df[df["measured"] & df["experiment"].isin(experiments)] if not df.empty else df
        result = stats.structure_tests(data, keys, "structure", PRIMARY) if not data.empty else None
        if result is None:
            continue
        posthoc = result["posthoc"].assign(against=lambda t: t["against"].map(label))
        out.append({"name": name, "result": {**result, "best": label(result["best"])}, "reading": stats.reading(result, label), "posthoc": posthoc})
    return out


def significance_table(items: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"comparison": i["name"], "blocks": i["result"]["blocks"], "structures": i["result"]["treatments"], "Friedman chi2": i["result"]["friedman_stat"], "p": i["result"]["friedman_p"], "best on average": i["result"]["best"]}
            for i in items
        ]
    )


def pareto_part(df: pd.DataFrame, figures_dir: Path, link_prefix: str) -> dict | None:
    """Seed 001's accuracy/speed trade-off as a figure: every structure x backbone on (0,1,2)."""
    data = df[df["measured"] & (df["experiment"] == "seed001")] if not df.empty else df
    if data.empty:
        return None
    points = data.groupby(["structure", "backbone"])[[PRIMARY, "inference_s"]].mean().reset_index()
    points["configuration"] = points["structure"].map(label) + " " + points["backbone"]
    front = stats.pareto_front(points, PRIMARY, "inference_s")
    path = pareto(points, figures_dir / "d012_pareto.png", x="inference_s", y=PRIMARY, label="configuration", front=front, title=f"{PRIMARY} vs inference time, digits 0,1,2 (mean over seeds)", xlabel="inference time for the test subset (s, log scale)", ylabel="test accuracy")
    named = points[front].sort_values("inference_s")
    return {
        "png": f"{link_prefix}/{path.name}",
        "csv": f"{link_prefix}/{path.with_suffix('.csv').name}",
        "front": named[["configuration", PRIMARY, "inference_s"]],
    }


def mcnemar_table(df: pd.DataFrame, records: dict, results_dirs: list[Path]) -> pd.DataFrame | None:
    """The two most accurate structures on (0,1,2), per backbone and seed: do their test errors differ?"""
    data = df[df["measured"] & (df["experiment"] == "seed001")] if not df.empty else df
    rows = []
    for (backbone, seed), group in (data.groupby(["backbone", "seed"]) if not data.empty else []):
        top = group.sort_values(PRIMARY, ascending=False).head(2)
        if len(top) < 2:
            continue
        arrays = [load_predictions(records, results_dirs, "sbh", row["case_id"], row["seed"]) for _, row in top.iterrows()]
        if any(a is None for a in arrays):
            continue
        (a, b), (first, second) = top["structure"].tolist(), arrays
        test = stats.mcnemar_exact(first["labels"], first["predictions"], second["predictions"])
        rows.append({"backbone": backbone, "seed": seed, "A": label(a), "B": label(b), "acc A": top[PRIMARY].iloc[0], "acc B": top[PRIMARY].iloc[1], "only A right": test["only_a_right"], "only B right": test["only_b_right"], "p (exact)": test["p"], "different at 5 %": "yes" if test["different"] else "no"})
    return pd.DataFrame(rows) if rows else None


def seed000_summary(parts: dict) -> pd.DataFrame:
    """Seed 000's summary table: per experiment, best and worst structure from the data, beside the seed's."""
    rows = []
    for experiment, part in parts.items():
        if part is None:
            continue
        means = part["means"]
        rows.append(
            {
                "experiment": sbh.EXPERIMENTS[experiment][1],
                "cases": part["cases"],
                "best (ours)": f"{label(means.idxmax())} {means.max():.4f}",
                "worst (ours)": f"{label(means.idxmin())} {means.min():.4f}",
                "seed 000 best": SEED000_SAID[experiment][0],
                "seed 000 worst": SEED000_SAID[experiment][1],
            }
        )
    return pd.DataFrame(rows)


def reproduce_command(experiment: str, digits: str) -> str:
    tag = sbh.digits_tag(tuple(int(d) for d in digits.split(",")))
    if experiment == "custom":
        return f"pytest benchmarks -m sbh_custom --digits {digits}"
    if experiment == "combos":
        return f"pytest benchmarks -m sbh_combos -k {tag}"
    return "pytest benchmarks -m sbh_seed001"


def build(df_all: pd.DataFrame, figures_dir: Path, link_prefix: str, *, records: dict | None = None, results_dirs: list[Path] = (), **_) -> dict:
    """Everything the ``sbh`` template needs; figures are written under ``figures_dir``."""
    df = cases_frame(df_all)
    ran = set(df["case_id"]) if not df.empty else set()
    missing = [case_id for case_id in expected_cases(df_all) if case_id not in ran]
    measured = df[df["measured"]] if not df.empty else df
    seed000 = {}
    if not measured.empty:
        seed000 = {"combos": combos_section(df, figures_dir, link_prefix), "size": sweep_section(df, "size", figures_dir, link_prefix), "lr": sweep_section(df, "lr", figures_dir, link_prefix)}
    context = {
        "structures": structures_table(),
        "missing": missing,
        "problems": df[~df["status"].eq("passed")] if not df.empty else df,
        "sections": [],
        "seed000": {name: part for name, part in seed000.items() if part is not None},
        "seed000_summary": seed000_summary(seed000),
        "sweeps": {"sizes": sbh.TRAIN_SIZES, "buckets": sbh.SIZE_BUCKETS, "rates": [sbh.lr_tag(v).removeprefix("lr") for v in sbh.LEARNING_RATES], "lr_images": sbh.LR_SWEEP_TRAIN_SIZE, "digits": ",".join(map(str, sbh.SWEEP_DIGITS))},
    }
    # One section per digit combo trained on the profile's standard budget (the sweeps have their own).
    per_combo = measured[measured["experiment"].isin(["seed001", "combos", "custom"])] if not measured.empty else measured
    for digits, group in (per_combo.groupby("digits", sort=True) if not per_combo.empty else []):
        tag = sbh.digits_tag(tuple(int(d) for d in digits.split(",")))
        flagged = failed_mask(group)
        experiment = group["experiment"].iloc[0]
        section = {"digits": digits, "tag": tag, "command": reproduce_command(experiment, digits), "figures": [], "summary": summary(group), "cases": group}
        for metric, title in [*ACCURACY_METRICS.items(), ("inference_s", "inference time (s)")]:
            is_time = metric == "inference_s"
            fmt = ".3f" if is_time else ".4f"
            path = grouped_bars(
                pivot(group, metric),
                figures_dir / f"{tag}_{metric}.png",
                title=f"{'inference time for the test subset' if is_time else title} - digits {digits}",
                ylabel="seconds (median of rounds)" if is_time else "test accuracy",
                zoom=not is_time,
                flagged=flagged,
                errors=ci_pivot(group, metric),
            )
            section["figures"].append({**_figure(path, link_prefix, title, shown(group, metric, fmt), fmt), "metric": metric})
        context["sections"].append(section)
    context["significance"] = significance(df)
    context["significance_table"] = significance_table(context["significance"])
    context["pareto"] = pareto_part(df, figures_dir, link_prefix)
    context["mcnemar"] = mcnemar_table(df, records or {}, results_dirs)
    sweep_cases = measured[measured["experiment"].isin(["size", "lr"])] if not measured.empty else measured
    context["sweep_cases"] = sweep_cases
    return context
