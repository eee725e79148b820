"""``sbh`` report, computed statements: write-up 001's conclusions, rankings, trade-off, tests."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from reports import comparison, stats
from reports.catalog import _
from reports.load import load_predictions
from reports.sbh.tables import PRIMARY, complete_blocks, label
from reports.speed import SideBySide
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


def structure_ranking(cells: pd.DataFrame, metric: str, cases: list[str], what: str) -> dict:
    """The structures best first by their mean over ``cells``, the leader named only if it beats
    every other by the one rule (units: the ``cases`` columns' cases, seeds averaged)."""
    means = cells.groupby("structure")[metric].mean().sort_values(ascending=False)
    return comparison.ranking(
        list(means.index),
        lambda a, b: comparison.accuracy(cells, "structure", a, b, metric, cases, label=label),
        what=what,
        best_word="most accurate",
        label=label,
    )


def _backbones(cells: pd.DataFrame) -> list[str]:
    return sorted(set(cells["backbone"]), key=list(sbh.BACKBONES).index)


def _members(structures, backbones) -> list[str]:
    structures = [structures] if isinstance(structures, str) else structures
    return [f"{s}-{b}" for s in structures for b in backbones]


def summary(df: pd.DataFrame, sbs: SideBySide | None = None) -> list[str]:
    """Write-up 001's conclusions, recomputed from these records over matched cells only (the
    (backbone, seed) blocks in which all five structures ran), each sentence decided by the one
    comparison rule (reports/comparison.py); speeds only from the side-by-side record ``sbs``."""
    cells = complete_blocks(df, ["backbone", "seed"])
    if cells.empty:
        return ["No backbone has all five structures in these records, so no structure comparison is made."]
    backbones = _backbones(cells)
    if _same_seeds(cells, ["backbone"]):
        shape = f"{len(backbones)} backbone(s) ({', '.join(backbones)}) x {cells['seed'].nunique()} seed(s)"
    else:
        blocks = cells.groupby(["backbone", "seed"]).ngroups
        shape = f"{blocks} (backbone, seed) blocks ({block_seeds(cells, ['backbone'])})"
    lines = [
        f"Matched cells: {len(cells)} records = 5 structures x {shape}; every mean below is over these, "
        "and a comparison's units are its backbones with their seeds averaged (one backbone: its seeds)."
    ]
    for metric, title in ACCURACY_METRICS.items():
        ranked = structure_ranking(cells, metric, ["backbone"], f"{title}, digits {cells['digits'].iloc[0]}")
        per_structure = cells.groupby("structure")[metric].mean()
        worst = per_structure.idxmin()
        lines.append(f"{title}: {ranked['text']}; lowest mean **{label(worst)}** ({per_structure[worst]:.4f}).")
    flags = cells["structure"].map(lambda s: (sbh.STRUCTURES[s].shared_backbone, sbh.STRUCTURES[s].shared_head))
    shared_bb, shared_head = flags.map(lambda f: f[0]), flags.map(lambda f: f[1])
    for metric in ACCURACY_METRICS:
        lines.append(_compare(cells, shared_head, metric, _("split heads"), _("a shared head"), f"`{metric}`"))
    lines.append(
        _compare(cells, shared_bb, "acc_all_heads", _("split backbones"), _("a shared backbone"), "`acc_all_heads`")
    )
    lines += speed_lines(sbs, backbones)
    lines.append(tradeoff(cells, ["backbone"], sbs))
    return lines


def speed_lines(sbs: SideBySide | None, backbones: list[str]) -> list[str]:
    """Shared against split backbones, and each backbone against the next larger one, side by side."""
    if sbs is None:
        return [
            _(
                "Inference speed: not compared"
                " (no side-by-side record `speed/writeup001`; `pytest benchmarks -m speed`)."
            )
        ]
    shared = [s for s in sbh.STRUCTURES if sbh.STRUCTURES[s].shared_backbone]
    split = [s for s in sbh.STRUCTURES if not sbh.STRUCTURES[s].shared_backbone]
    c = sbs.versus(
        _members(shared, backbones),
        _members(split, backbones),
        label_a=_("a shared backbone"),
        label_b=_("split backbones"),
    )
    over = ", ".join(backbones)
    lines = [
        _("Inference (batch of 32, side by side, mean over {backbones}): {verdict}.", backbones=over, verdict=c.words())
    ]
    every = list(sbh.STRUCTURES)
    for small, large in itertools.pairwise(backbones):
        c = sbs.versus(_members(every, [small]), _members(every, [large]), label_a=small, label_b=large)
        lines.append(_("Inference by backbone (mean over the five structures): {verdict}.", verdict=c.words()))
    return lines


def _compare(df, is_b, metric, name_a, name_b, metric_label) -> str:
    """Group a against group b by the one rule (units: backbones, structures and seeds averaged)."""
    grouped = df.assign(_group=np.where(is_b, name_b, name_a))
    c = comparison.accuracy(grouped, "_group", name_a, name_b, metric, ["backbone"])
    return _("{metric}, {a} vs {b}: {verdict}.", metric=metric_label, a=name_a, b=name_b, verdict=c.words())


def tradeoff(cells: pd.DataFrame, cases: list[str], sbs: SideBySide | None) -> str:
    """Write-up 001's pick: of the structures that tie with the most accurate by the rule, the
    fastest side by side (on the cells' backbones), named only if it beats the others."""
    ranked = structure_ranking(cells, PRIMARY, cases, f"trade-off accuracy over {', '.join(cases)}")
    close = [s for s in sbh.STRUCTURES if label(s) in (ranked["tied"] or [ranked["leader"]])]
    names = ", ".join(label(s) for s in close)
    if len(close) == 1:
        return f"Trade-off: **{names}** is the most accurate by the rule; no speed choice to make."
    if sbs is None:
        return f"Trade-off: tied for the best `{PRIMARY}`: {names}; speed not compared (no side-by-side record)."
    backbones = _backbones(cells)
    by_time = sorted(close, key=lambda s: sbs.median("inference", _members(s, backbones)))
    fastest = comparison.ranking(
        by_time,
        lambda a, b: sbs.versus(_members(a, backbones), _members(b, backbones), label_a=label(a), label_b=label(b)),
        what=f"trade-off speed on {', '.join(backbones)}",
        best_word="fastest",
        label=label,
    )
    return (
        f"Trade-off: of the structures tied for the best `{PRIMARY}` ({names}), timed side by side on "
        f"{', '.join(backbones)}: {fastest['text']}."
    )


def rank_line(cells: pd.DataFrame, cases: list[str], what: str) -> tuple[str, dict]:
    """The most accurate structure over matched ``cells`` by the one rule, and the lowest mean;
    also the ranking itself (write-up 000's summary table reads it)."""
    ranked = structure_ranking(cells, PRIMARY, cases, what)
    means = cells.groupby("structure")[PRIMARY].mean()
    worst = means.idxmin()
    return f"{what}: {ranked['text']}; lowest mean **{label(worst)}** ({means[worst]:.4f}).", ranked


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


# comparison -> (experiments pooled, what makes a case besides the structure; seeds are averaged in it)
SIGNIFICANCE = {
    "digit combos (write-ups 001 and 000)": (["writeup001", "combos", "custom"], ["digits", "backbone"]),
    "train sizes": (["size"], ["train_size", "backbone"]),
    "learning rates": (["lr"], ["lr", "backbone"]),
}


def significance(df: pd.DataFrame) -> list[dict]:
    """Do the structures differ? Friedman over cases (combo or swept value x backbone, seeds
    averaged: the independent unit), then the best by mean against each other by the one rule."""
    out = []
    for name, (experiments, keys) in SIGNIFICANCE.items():
        data = df[df["measured"] & df["experiment"].isin(experiments)] if not df.empty else df
        data = complete_blocks(data, [*keys, "seed"]) if not data.empty else data
        result = stats.friedman(data, keys, "structure", PRIMARY) if not data.empty else None
        if result is None:
            continue
        ranked = structure_ranking(data, PRIMARY, keys, f"{name}: {PRIMARY}")
        posthoc = pd.DataFrame(
            [
                {
                    "against": c.other if c.leader == ranked["leader"] else c.leader,
                    "higher mean": c.leader,
                    "mean difference": c.estimate,
                    "95 % CI": f"{c.low:+.4f} to {c.high:+.4f}",
                    "cases": c.units,
                    "verdict": c.outcome,
                }
                for c in ranked["comparisons"]
            ]
        )
        seeds = data.groupby("case_id")["seed"].nunique()
        seed_words = f"{seeds.min()}" if seeds.min() == seeds.max() else f"{seeds.min()} to {seeds.max()}"
        differ = result["friedman_p"] < stats.ALPHA
        reading = (
            f"Friedman p = {result['friedman_p']:.3g} over {result['blocks']} cases ({seed_words} seed(s) each, "
            f"averaged): {'the structures differ' if differ else 'no evidence at 5 % that the structures differ'}; "
            + ranked["text"]
            + "."
        )
        out.append(
            {
                "name": name,
                "result": {**result, "best": ranked["leader"] if ranked["named"] else "tie (within noise)"},
                "reading": reading,
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
                "most accurate (the rule)": i["result"]["best"],
            }
            for i in items
        ]
    )


def mcnemar_table(df: pd.DataFrame, records: dict, results_dirs: list[Path]) -> pd.DataFrame | None:
    """The two structures with the highest accuracy on (0,1,2) in each backbone and seed: do their test
    predictions differ on the same images? A check within one run, not a verdict between structures."""
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
    """Write-up 000's summary table: per experiment, the most accurate structure by the one rule
    (or the tied group) and the lowest mean, beside the write-up's own reading."""
    rows = []
    for experiment, part in parts.items():
        if part is None:
            continue
        means, ranked = part["means"], part["ranking"]
        rows.append(
            {
                "experiment": sbh.STUDY.experiment(experiment).description,
                "records": part["cases"],
                "most accurate (ours, the rule)": ranked["leader"]
                if ranked["named"]
                else "tie (within noise): " + ", ".join(ranked["tied"]),
                "lowest mean (ours)": f"{label(means.idxmin())} {means.min():.4f}",
                "write-up 000 best": WRITEUP000_SAID[experiment][0],
                "write-up 000 worst": WRITEUP000_SAID[experiment][1],
            }
        )
    return pd.DataFrame(rows)
