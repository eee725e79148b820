"""``sbh`` report: the conclusions of write-ups 001 and 000 checked against our records.

The conclusions are the rows of ``studies/writeups/seed_claims.csv`` (a reading of the
write-ups' text, Korean quote and translation) for write-ups 001 and 000. Each gets one
verdict: "holds", "does not hold", or "not testable" with the reason. Inference-time claims
are tested on any budget (training does not change the network's cost); accuracy claims only
on records of the authors' protocol (``writeup`` profile), and with one seed per cell a
ranking is reported as "one seed, untested".
"""

from __future__ import annotations

import pandas as pd

import studies.writeups as writeups
from reports.sbh.writeup import SHARED_BACKBONE, SPLIT_BACKBONE
from studies import sbh

# "About 2x" in write-up 001: ratios inside this range count as about two.
ABOUT_TWO = (1.7, 2.3)


def claims() -> pd.DataFrame:
    rows = [r for r in writeups.rows("seed_claims") if r["writeup"][:3] in ("001", "000")]
    df = pd.DataFrame(rows)
    df["write-up"] = df["writeup"].str[:3]
    return df


def _latency(df: pd.DataFrame) -> pd.DataFrame:
    """Mean latency_b32_s per structure x backbone on write-up 001's digits (any profile)."""
    ours = df[(df["experiment"] == "writeup001") & df["measured"]]
    if "latency_b32_s" not in ours or ours["latency_b32_s"].isna().all():
        return pd.DataFrame()
    return ours.groupby(["structure", "backbone"])["latency_b32_s"].mean().unstack("backbone")


def _complete(table: pd.DataFrame) -> bool:
    return not table.empty and set(sbh.STRUCTURES) <= set(table.index) and not table.isna().any().any()


def _ratio_check(table: pd.DataFrame) -> tuple[str, str]:
    ratios = table.loc[list(SPLIT_BACKBONE)].mean() / table.loc[list(SHARED_BACKBONE)].mean()
    shown = ", ".join(f"{b} {r:.2f}x" for b, r in ratios.items())
    held = all(ABOUT_TWO[0] <= r <= ABOUT_TWO[1] for r in ratios)
    return ("holds" if held else "does not hold"), f"split/shared backbone latency: {shown}"


def _size_check(table: pd.DataFrame) -> tuple[str, str]:
    backbones = [b for b in sbh.BACKBONES if b in table.columns]
    growing = all(table.loc[s, backbones].is_monotonic_increasing for s in table.index)
    shown = "; ".join(
        f"{s} " + " < ".join(f"{table.loc[s, b] * 1000:.1f}" for b in backbones) for s in list(sbh.STRUCTURES)[:2]
    )
    verdict = "holds (grows with size; proportionality not tested)" if growing else "does not hold"
    return verdict, f"ms per batch of 32, ResNet-18/34/50: {shown}, ..."


def _fast_pair_check(table: pd.DataFrame) -> tuple[str, str]:
    fast = table.loc[list(SHARED_BACKBONE)].max()
    slow = table.loc[list(SPLIT_BACKBONE)].min()
    held = bool((fast < slow).all())
    shown = ", ".join(
        f"{b}: slowest of (2),(3) {fast[b] * 1000:.1f} ms vs fastest other {slow[b] * 1000:.1f} ms" for b in fast.index
    )
    return ("holds" if held else "does not hold"), shown


def _slow_check(table: pd.DataFrame) -> tuple[str, str]:
    size, size_text = _size_check(table)
    split = (table.loc[list(SPLIT_BACKBONE)].mean() > table.loc[list(SHARED_BACKBONE)].mean()).all()
    held = size.startswith("holds") and split
    return ("holds" if held else "does not hold"), f"split slower than shared on every backbone: {split}; {size_text}"


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


def check(df: pd.DataFrame) -> pd.DataFrame:
    """One row per conclusion of write-ups 001 and 000 with our verdict and its evidence."""
    table = _latency(df)
    profiles = sorted(set(df.loc[df["measured"], "profile"])) if len(df) else []
    rows = []
    for _, row in claims().iterrows():
        checker = _latency_checker(row)
        if _is_explanation(row):
            verdict, evidence = "not testable", "an explanation or caveat, not a measurement"
        elif checker is not None and _complete(table):
            verdict, evidence = checker(table)
        elif checker is not None:
            verdict, evidence = "not testable", "needs latency_b32_s of all 15 write-up 001 cases"
        elif "writeup" in profiles:
            verdict, evidence = "not checked automatically", "compare with the tables of section 3"
        else:
            verdict = "not testable at this budget"
            evidence = f"accuracy claim; these records are {'/'.join(profiles) or 'absent'}, not the authors' protocol"
        rows.append(
            {
                "write-up": row["write-up"],
                "about": row["subject"],
                "claim (translated)": row["translation_en"],
                "verdict": verdict,
                "evidence": evidence,
            }
        )
    return pd.DataFrame(rows)
