"""``sbh`` report, computed statements: write-up 001's conclusions, rankings, trade-off, tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports import stats
from reports.load import load_predictions
from reports.sbh.tables import PRIMARY, complete_blocks, label
from studies import sbh

ACCURACY_METRICS = {
    "acc_mean_heads": "accuracy, mean of heads (write-up 001, experiment 1)",
    "acc_all_heads": "accuracy, all heads right (write-up 001, experiment 2)",
}
# Write-up 000's own best / worst structures per experiment, quoted beside ours for comparison.
WRITEUP000_SAID = {
    "combos": ("(1), (3)", "(4)-2"),
    "size": ("(1)", "(4)-2"),
    "lr": ("(2) at high rates; overall unclear", "unclear"),
}
# Structures whose mean accuracy is within this many points of the best count as "as accurate"
# when picking the accuracy/speed trade-off (write-up 001 picked (3) on that basis).
TRADEOFF_TOLERANCE = 0.005


def _spread(cells: pd.DataFrame, metric: str) -> tuple[float, int]:
    """Widest seed-to-seed range of one case among these cells, and the fewest seeds of a case."""
    per_case = cells.groupby("case_id")[metric]
    return float((per_case.max() - per_case.min()).max()), int(per_case.count().min())


def summary(df: pd.DataFrame) -> list[str]:
    """Write-up 001's conclusions, recomputed from these records over matched cells only (the
    (backbone, seed) blocks in which all five structures ran), each sentence worded by its evidence."""
    cells = complete_blocks(df, ["backbone", "seed"])
    if cells.empty:
        return ["No backbone has all five structures in these records, so no structure comparison is made."]
    backbones = sorted(set(cells["backbone"]), key=list(sbh.BACKBONES).index)
    if _same_seeds(cells, ["backbone"]):
        shape = f"{len(backbones)} backbone(s) ({', '.join(backbones)}) x {cells['seed'].nunique()} seed(s)"
    else:
        blocks = cells.groupby(["backbone", "seed"]).ngroups
        shape = f"{blocks} (backbone, seed) blocks ({block_seeds(cells, ['backbone'])})"
    lines = [f"Matched cells: {len(cells)} records = 5 structures x {shape}; every mean below is over these."]
    for metric, title in ACCURACY_METRICS.items():
        per_structure = cells.groupby("structure")[metric].mean().sort_values(ascending=False)
        spread, seeds = _spread(cells, metric)
        best, second, worst = per_structure.index[0], per_structure.index[1], per_structure.index[-1]
        lines.append(
            f"{title}: "
            + stats.gap_words(
                label(best), per_structure[best], label(second), per_structure[second], spread=spread, seeds=seeds
            )
            + f"; lowest **{label(worst)}** ({per_structure[worst]:.4f})."
        )
    flags = cells["structure"].map(lambda s: (sbh.STRUCTURES[s].shared_backbone, sbh.STRUCTURES[s].shared_head))
    shared_bb, shared_head = flags.map(lambda f: f[0]), flags.map(lambda f: f[1])
    for metric in ACCURACY_METRICS:
        lines.append(_compare(cells, shared_head, metric, "split heads", "a shared head", f"`{metric}`"))
    lines.append(_compare(cells, shared_bb, "acc_all_heads", "split backbones", "a shared backbone", "`acc_all_heads`"))
    # Times: only the matched cells that kept their times (one machine per section, tables.one_machine_times).
    timed = complete_blocks(cells[cells["inference_s"].notna()], ["backbone", "seed"])
    over = f"{len(timed)} timed cells of one machine" if len(timed) < len(cells) else "the matched cells"
    shared_timed = shared_bb.loc[timed.index]
    time_split = timed.loc[~shared_timed, "inference_s"].mean()
    time_shared = timed.loc[shared_timed, "inference_s"].mean()
    if pd.notna(time_split) and pd.notna(time_shared) and time_shared > 0:
        lines.append(
            "Inference: "
            + stats.ratio_words(time_split, time_shared, "a shared backbone", "split backbones")
            + f" ({time_shared:.3f} s vs {time_split:.3f} s for the test subset, mean over {over})."
        )
    by_backbone = timed.groupby("backbone")["inference_s"].mean()
    if len(by_backbone) > 1 and _same_seeds(timed, ["backbone"]):
        fastest, slowest = by_backbone.idxmin(), by_backbone.idxmax()
        lines.append(
            f"Inference time grows with the backbone: {slowest} takes "
            f"{by_backbone[slowest] / by_backbone[fastest]:.1f}x "
            f"the time of {fastest} (mean over structures, {over})."
        )
    lines.append(tradeoff(cells))
    return lines


def _compare(df, is_b, metric, name_a, name_b, metric_label) -> str:
    """Group a against group b, worded by the cells' seed spread (see stats.gap_words)."""
    a, b = df.loc[~is_b, metric].mean(), df.loc[is_b, metric].mean()
    spread, seeds = _spread(df, metric)
    if a >= b:
        return (
            f"{metric_label}, {name_a} vs {name_b}: "
            + stats.gap_words(name_a, a, name_b, b, spread=spread, seeds=seeds)
            + "."
        )
    return (
        f"{metric_label}, {name_a} vs {name_b}: "
        + stats.gap_words(name_b, b, name_a, a, spread=spread, seeds=seeds)
        + "."
    )


def tradeoff(df: pd.DataFrame) -> str:
    stats = df.groupby("structure")[["acc_all_heads", "inference_s"]].mean()
    best_acc = stats["acc_all_heads"].max()
    close = stats[stats["acc_all_heads"] >= best_acc - TRADEOFF_TOLERANCE]
    pick = close["inference_s"].idxmin()
    return (
        f"Trade-off: of the structures within {TRADEOFF_TOLERANCE * 100:.1f} points of the best `acc_all_heads` "
        f"({', '.join(label(s) for s in close.index)}), the fastest is **{label(pick)}** "
        f"({stats.loc[pick, 'acc_all_heads']:.4f}, {stats.loc[pick, 'inference_s']:.3f} s)."
    )


def rank_line(means: pd.Series, what: str, cells: pd.DataFrame) -> str:
    """Best against runner-up and the lowest, over matched ``cells``, worded by their seed spread."""
    ordered = means.sort_values(ascending=False)
    best, second, worst = ordered.index[0], ordered.index[1], ordered.index[-1]
    spread, seeds = _spread(cells, PRIMARY)
    words = stats.gap_words(label(best), ordered[best], label(second), ordered[second], spread=spread, seeds=seeds)
    return f"{what}: {words}; lowest **{label(worst)}** ({ordered[worst]:.4f})."


def _seeds_per_block(cells: pd.DataFrame, keys: list[str]) -> pd.Series:
    return cells.groupby(keys)["seed"].apply(lambda s: tuple(sorted(set(s))))


def _same_seeds(cells: pd.DataFrame, keys: list[str]) -> bool:
    return _seeds_per_block(cells, keys).nunique() == 1


def block_seeds(cells: pd.DataFrame, keys: list[str]) -> str:
    """Which seeds the matched blocks hold: "3 seed(s)" when every block has the same ones, else
    per set of seeds, e.g. "seeds 0, 1, 2 in resnet18; seed 0 in resnet34, resnet50"."""
    per_block = _seeds_per_block(cells, keys)
    if per_block.nunique() == 1:
        return f"{len(per_block.iloc[0])} seed(s)"
    parts = []
    for seeds, blocks in sorted(per_block.groupby(per_block), key=lambda item: (-len(item[0]), item[0])):
        names = ", ".join(" ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in blocks.index)
        parts.append(f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))} in {names}")
    return "; ".join(parts)


def blocks_words(cells: pd.DataFrame, keys: list[str]) -> str:
    """What the matched blocks are and their seeds, e.g. "6 blocks: resnet18 on 0,1,2, 0,3,4, ...;
    resnet34 on 0,1,2; 3 seed(s)". Values in the order of ``cells`` (a rate's text does not sort as the rate)."""
    blocks = cells.groupby(keys[-1])[keys[0]].apply(lambda v: list(dict.fromkeys(v)))
    parts = [f"{backbone} on {', '.join(map(str, values))}" for backbone, values in blocks.items()]
    count = cells.groupby(keys).ngroups
    return f"{count} (value, backbone) blocks with all five structures: {'; '.join(parts)}; {block_seeds(cells, keys)}"


# comparison -> (experiments pooled, what makes a block besides the structure)
SIGNIFICANCE = {
    "digit combos (write-ups 001 and 000)": (["writeup001", "combos", "custom"], ["digits", "backbone", "seed"]),
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
        out.append(
            {
                "name": name,
                "result": {**result, "best": label(result["best"])},
                "reading": stats.reading(result, label),
                "posthoc": posthoc,
            }
        )
    return out


def significance_table(items: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "comparison": i["name"],
                "blocks": i["result"]["blocks"],
                "structures": i["result"]["treatments"],
                "Friedman chi2": i["result"]["friedman_stat"],
                "p": i["result"]["friedman_p"],
                "best on average": i["result"]["best"],
            }
            for i in items
        ]
    )


def mcnemar_table(df: pd.DataFrame, records: dict, results_dirs: list[Path]) -> pd.DataFrame | None:
    """The two most accurate structures on (0,1,2), per backbone and seed: do their test errors differ?"""
    data = df[df["measured"] & (df["experiment"] == "writeup001")] if not df.empty else df
    rows = []
    for (backbone, seed), group in data.groupby(["backbone", "seed"]) if not data.empty else []:
        top = group.sort_values(PRIMARY, ascending=False).head(2)
        if len(top) < 2:
            continue
        arrays = [
            load_predictions(records, results_dirs, "sbh", row["case_id"], row["seed"]) for _, row in top.iterrows()
        ]
        if any(a is None for a in arrays):
            continue
        (a, b), (first, second) = top["structure"].tolist(), arrays
        test = stats.mcnemar_exact(first["labels"], first["predictions"], second["predictions"])
        rows.append(
            {
                "backbone": backbone,
                "seed": seed,
                "A": label(a),
                "B": label(b),
                "acc A": top[PRIMARY].iloc[0],
                "acc B": top[PRIMARY].iloc[1],
                "only A right": test["only_a_right"],
                "only B right": test["only_b_right"],
                "p (exact)": test["p"],
                "different at 5 %": "yes" if test["different"] else "no",
            }
        )
    return pd.DataFrame(rows) if rows else None


def writeup000_summary(parts: dict) -> pd.DataFrame:
    """Write-up 000's summary table: per experiment, best and worst structure from the data, beside the write-up's."""
    rows = []
    for experiment, part in parts.items():
        if part is None:
            continue
        means = part["means"]
        rows.append(
            {
                "experiment": sbh.STUDY.experiment(experiment).description,
                "cases": part["cases"],
                "best (ours)": f"{label(means.idxmax())} {means.max():.4f}",
                "worst (ours)": f"{label(means.idxmin())} {means.min():.4f}",
                "write-up 000 best": WRITEUP000_SAID[experiment][0],
                "write-up 000 worst": WRITEUP000_SAID[experiment][1],
            }
        )
    return pd.DataFrame(rows)
