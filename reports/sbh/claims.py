"""``sbh`` report: the conclusions of write-ups 001 and 000 checked against our records.

The conclusions are the rows of ``studies/writeups/seed_claims.csv`` (a reading of the
write-ups' text, Korean quote and translation) for write-ups 001 and 000. Each gets one
verdict: "holds", "does not hold", or "not testable" with the reason. Inference-time claims
are tested on any budget (training does not change the network's cost); accuracy claims only
on records of the authors' protocol (``writeup`` profile), and with one seed per cell a
ranking is reported as "one seed, untested". A speed claim about an order is judged pair by
pair with the one comparison rule on networks timed side by side (``reports.speed``): it
"does not hold" only when a pair goes the other way beyond noise.
"""

from __future__ import annotations

import itertools

import pandas as pd

import studies.writeups as writeups
from reports import catalog, comparison
from reports.comparison import TIE, UNTESTED
from reports.sbh.tables import complete_blocks, label, writeup_label
from reports.sbh.writeup import SHARED_BACKBONE, SPLIT_BACKBONE, split_vs_shared
from reports.speed import SideBySide
from studies import sbh

# "About 2x" in write-up 001: ratios inside this range count as about two.
ABOUT_TWO = (1.7, 2.3)


def claims() -> pd.DataFrame:
    rows = [r for r in writeups.rows("seed_claims") if r["writeup"][:3] in ("001", "000")]
    df = pd.DataFrame(rows)
    df["write-up"] = df["writeup"].str[:3]
    return df


def _claim(row: pd.Series) -> dict[str, str]:
    """The claim as the page's reader reads it: the authors' own Korean sentence on a Korean page,
    our translation on an English one."""
    if catalog.language() == "ko":
        quote = row["quote_ko"].replace("|", "\\|").replace("\n", "<br>")
        return {"claim (as written)": quote}
    return {"claim (translated)": row["translation_en"]}


def _label(structure: str, backbone: str) -> str:
    return f"{writeup_label(structure)} {backbone}"


def _pairs_words(pairs: list) -> str:
    return "; ".join(c.words() for c in pairs)


def _judged(pairs: list, claimed) -> str:
    """An order claim over several pairs: holds when every pair goes the claimed way beyond
    noise, does not hold when one goes the other way beyond noise, else a tie (within noise)."""
    if any(c.beats and not claimed(c) for c in pairs):
        return "does not hold"
    return "holds" if all(c.beats and claimed(c) for c in pairs) else TIE


def _ratio_check(sbs: SideBySide) -> tuple[str, str]:
    """ "About 2x": each backbone's split/shared ratio interval inside ABOUT_TWO holds; one
    outside it entirely does not; an interval across an edge of the range is a tie (within noise)."""
    pairs = [split_vs_shared(sbs, b) for b in sbh.BACKBONES]
    slowdowns = [c.slowdown(f"split backbone {b}") for c, b in zip(pairs, sbh.BACKBONES, strict=True)]
    inside = [ABOUT_TWO[0] <= low and high <= ABOUT_TWO[1] for _, low, high in slowdowns]
    outside = [high < ABOUT_TWO[0] or low > ABOUT_TWO[1] for _, low, high in slowdowns]
    verdict = "does not hold" if any(outside) else ("holds" if all(inside) else TIE)
    return verdict, f"'about 2x' taken as {ABOUT_TWO[0]}-{ABOUT_TWO[1]}x: " + _pairs_words(pairs)


def _size_pairs(sbs: SideBySide) -> list:
    backbones = list(sbh.BACKBONES)
    return [
        sbs.versus(f"{s}-{small}", f"{s}-{large}", label_a=_label(s, small), label_b=_label(s, large))
        for s in sbh.STRUCTURES
        for small, large in itertools.pairwise(backbones)
    ]


def _size_check(sbs: SideBySide) -> tuple[str, str]:
    pairs = _size_pairs(sbs)
    verdict = _judged(pairs, lambda c: _smaller_first(c))
    shown = [c for c in pairs if not (c.beats and _smaller_first(c))] or pairs[:2]
    evidence = f"{len(pairs)} pairs (each structure, next larger ResNet); e.g. " + _pairs_words(shown[:3])
    return verdict, evidence + ("; the order only: 'in proportion' is not tested" if verdict == "holds" else "")


def _smaller_first(c) -> bool:
    """The faster of the pair is the smaller backbone."""
    order = list(sbh.BACKBONES)
    return order.index(c.leader.split()[-1]) < order.index(c.other.split()[-1])


def _fast_pair_check(sbs: SideBySide) -> tuple[str, str]:
    pairs = [
        sbs.versus(f"{fast}-{b}", f"{slow}-{b}", label_a=_label(fast, b), label_b=_label(slow, b))
        for b in sbh.BACKBONES
        for fast in SHARED_BACKBONE
        for slow in SPLIT_BACKBONE
    ]
    shared = {writeup_label(s) for s in SHARED_BACKBONE}
    verdict = _judged(pairs, lambda c: c.leader.split()[0] in shared)
    slowest_shared = [c for c in pairs if c.leader.split()[0] in shared]
    closest = min(slowest_shared or pairs, key=lambda c: c.estimate)
    return verdict, f"{len(pairs)} pairs, (2),(3) against (1),(4)-1,(4)-2 on each backbone; closest: {closest.words()}"


def _slow_check(sbs: SideBySide) -> tuple[str, str]:
    size, _size_text = _size_check(sbs)
    split = [split_vs_shared(sbs, b) for b in sbh.BACKBONES]
    split_verdict = _judged(split, lambda c: c.leader.startswith("shared"))
    verdicts = {size, split_verdict}
    verdict = "does not hold" if "does not hold" in verdicts else ("holds" if verdicts == {"holds"} else TIE)
    return verdict, f"split backbone slower: {split_verdict} ({_pairs_words(split[:1])}, ...); larger slower: {size}"


def _is_explanation(row: pd.Series) -> bool:
    return row["metric"] == "explanation" or "caveat" in row["metric"]


def _latency_checker(row: pd.Series):
    subject, metric = row["subject"], row["metric"]
    if "inference" not in subject and "inference" not in metric:
        return None
    if metric in ("speed ratio", "shared vs split backbone speed"):
        return _ratio_check
    if metric == "effect of backbone size":
        return _size_check
    if metric == "speed ranking":
        return _fast_pair_check
    if metric == "what makes inference slow":
        return _slow_check
    return None


# Write-up 001's accuracy claims: (subject contains, metric) -> (experiment's metric, check)
EXPERIMENT_METRIC = {"experiment 1": "acc_mean_heads", "experiment 2": "acc_all_heads"}


def protocol_cells(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Write-up 001's grid on the authors' protocol: measured writeup-profile records of digits
    0,1,2 in the (backbone, seed) blocks where all five structures ran, of the experiment whose
    metric is ``metric`` (experiment 1: the ``-exp1-`` runs, selected on the mean of heads)."""
    return complete_blocks(protocol_runs(df, metric), ["backbone", "seed"]) if len(df) else df


def protocol_runs(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Measured writeup-profile records of write-up 001's grid, of the experiment scored by ``metric``."""
    runs = df[df["measured"] & (df["profile"] == "writeup") & (df["experiment"] == "writeup001")]
    return runs[(runs["selection"] == "acc_mean_heads") == (metric == "acc_mean_heads")]


def deviation_words(cells: pd.DataFrame) -> str:
    weights = sorted(set(cells.get("params.weights", pd.Series(dtype=object)).dropna()))
    init = (
        "random init (`--weights none`), not the authors' ImageNet weights"
        if weights == ["none"]
        else (f"backbone weights {'/'.join(weights) or 'unknown'}")
    )
    seeds = cells.groupby("case_id")["seed"].nunique()
    backbones = sorted(set(cells["backbone"]), key=list(sbh.BACKBONES).index)
    return f"authors' protocol with {init}; {', '.join(backbones)}, {seeds.min()} seed(s) per structure"


def _structure_claim(cells: pd.DataFrame, metric: str, leader: str) -> tuple[str, str]:
    """ "``leader`` is (slightly) higher than the other structures": every pair by the one rule."""
    pairs = [
        comparison.accuracy(cells, "structure", leader, other, metric, ["backbone"], label=label)
        for other in sbh.STRUCTURES
        if other != leader
    ]
    if any(c.outcome == UNTESTED for c in pairs):
        return "untestable (one seed)", f"{deviation_words(cells)}: " + pairs[0].words()
    verdict = _judged(pairs, lambda c: c.leader == label(leader))
    shown = [c for c in pairs if not (c.beats and c.leader == label(leader))] or pairs
    return verdict, f"{deviation_words(cells)}: " + _pairs_words(shown[:2])


def _group_claim(cells: pd.DataFrame, metric: str, flag: str, higher: str | None) -> tuple[str, str]:
    """Split against shared (backbone or head): ``higher`` "split" or None for "almost no difference"."""
    is_shared = cells["structure"].map(lambda s: getattr(sbh.STRUCTURES[s], flag))
    what = flag.removeprefix("shared_")
    grouped = cells.assign(_group=is_shared.map({True: f"shared {what}", False: f"split {what}"}))
    c = comparison.accuracy(grouped, "_group", f"split {what}", f"shared {what}", metric, ["backbone"])
    if c.outcome == UNTESTED:
        return "untestable (one seed)", f"{deviation_words(cells)}: {c.words()}"
    if higher is None:
        verdict = "holds (no difference beyond noise)" if not c.beats else "does not hold"
    else:
        verdict = _judged([c], lambda x: x.leader == f"{higher} {what}")
    return verdict, f"{deviation_words(cells)}: {c.words()}"


def _accuracy_check(row: pd.Series, df: pd.DataFrame):
    """Write-up 001's accuracy claims on its own grid, judged on the authors' protocol records."""
    if row["write-up"] != "001":
        return None
    experiment = next((e for e in EXPERIMENT_METRIC if e in row["subject"]), None)
    metric = EXPERIMENT_METRIC.get(experiment, "acc_all_heads")
    claim = row["metric"]
    cells = protocol_cells(df, metric)
    checks = {
        "accuracy ranking": lambda: _structure_claim(cells, metric, "arch4-1"),
        "best structure": lambda: _structure_claim(cells, metric, "arch4-1"),
        "split vs shared backbone": lambda: _group_claim(
            cells, metric, "shared_backbone", None if "no difference" in row["value"] else "split"
        ),
        "split vs shared head": lambda: _group_claim(cells, metric, "shared_head", "split"),
    }
    if claim not in checks:
        return None
    if cells.empty:
        count = protocol_runs(df, metric)["structure"].nunique() if len(df) else 0
        return "not testable yet", f"{count} of the 5 structures ran under `--profile writeup`; it needs all five"
    return checks[claim]()


def check(df: pd.DataFrame, sbs: SideBySide | None) -> pd.DataFrame:
    """One row per conclusion of write-ups 001 and 000 with our verdict and its evidence.
    Speed claims read only ``sbs``, the write-up 001 networks timed side by side in one process."""
    profiles = sorted(set(df.loc[df["measured"], "profile"])) if len(df) else []
    rows = []
    for _, row in claims().iterrows():
        checker = _latency_checker(row)
        accuracy = None if checker is not None or _is_explanation(row) else _accuracy_check(row, df)
        if _is_explanation(row):
            verdict, evidence = "not testable", "an explanation or caveat, not a measurement"
        elif accuracy is not None:
            verdict, evidence = accuracy
        elif checker is not None and sbs is not None:
            verdict, evidence = checker(sbs)
        elif checker is not None:
            verdict, evidence = "not testable", "needs the side-by-side record `speed/writeup001` (pytest -m speed)"
        elif "writeup" in profiles:
            verdict, evidence = "not checked automatically", "compare with the tables of section 3"
        else:
            verdict = "not testable at this budget"
            evidence = f"accuracy claim; these records are {'/'.join(profiles) or 'absent'}, not the authors' protocol"
        rows.append(
            {
                "write-up": row["write-up"],
                "about": row["subject"],
                **_claim(row),
                "verdict": verdict,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(rows)
