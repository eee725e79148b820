"""``speed`` report, and the side-by-side evidence every other page's speed verdicts read.

A speed comparison between networks comes only from one ``speed`` record, whose networks were
timed round-robin in one process (studies/speed). ``SideBySide`` wraps such a record: its
rounds per network and phase, and ``versus`` (``reports.comparison.times``) for any two
networks or groups of networks. Pages that find no such record say the claim is untestable.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.records import MEASURED_STATUSES, ResultRecord
from reports import comparison
from studies import sbh, speed


@dataclass(frozen=True)
class SideBySide:
    record: ResultRecord

    @property
    def source(self) -> str:
        r = self.record
        machine = r.environment.get("fingerprint", "?")
        return f"speed/{r.case_id}-seed{r.seed}.json, machine {machine}"

    @property
    def networks(self) -> dict:
        return self.record.side_by_side["networks"]

    @property
    def rounds(self) -> int:
        return self.record.side_by_side["rounds"]

    def series(self, phase: str, names, per_image: bool = False) -> np.ndarray:
        """Per round, the mean seconds of ``names`` (one network or a group), per image if asked."""
        names = [names] if isinstance(names, str) else list(names)
        rows = [
            np.asarray(self.networks[n]["rounds_s"][phase], dtype=float)
            / (self.networks[n]["batch"] if per_image else 1)
            for n in names
        ]
        return np.mean(rows, axis=0)

    def versus(self, a, b, *, phase: str = speed.INFERENCE, label_a=None, label_b=None, per_image: bool = False):
        """The one rule on two networks (or groups), round by round."""
        name = lambda x: x if isinstance(x, str) else "+".join(x)  # noqa: E731
        return comparison.times(
            self.series(phase, a, per_image),
            self.series(phase, b, per_image),
            label_a or name(a),
            label_b or name(b),
            metric=f"{phase}{' per image' if per_image else ''}",
            source=self.source,
            cells=(name(a), name(b)),
        )

    def median(self, phase: str, name: str, per_image: bool = False) -> float:
        return float(np.median(self.series(phase, name, per_image)))

    def words(self) -> str:
        r = self.record
        precision = r.environment.get("precision", {}).get("inference", "not recorded")
        threads = r.environment.get("torch_threads", "?")
        return (
            f"{len(self.networks)} networks timed side by side in one process, {self.rounds} rounds each "
            f"(`{self.source}`; {r.environment.get('cpu') or r.environment.get('gpu')}, {threads} thread(s), "
            f"{precision}; freshly built networks: training does not change a network's cost)"
        )


def side_by_side(records: dict | None, case_id: str) -> SideBySide | None:
    """The newest measured ``speed`` record of a comparison group, if any."""
    found = [
        r
        for (study, case, _), r in (records or {}).items()
        if study == speed.NAME and case == case_id and r.status in MEASURED_STATUSES and r.side_by_side
    ]
    return SideBySide(max(found, key=lambda r: r.finished_at or "")) if found else None


def network_table(sbs: SideBySide) -> pd.DataFrame:
    rows = []
    for name, net in sbs.networks.items():
        row = {"network": name, "batch": net["batch"], "params": net["params"]}
        for phase in net["rounds_s"]:
            mid, low, high = comparison.median_interval(net["rounds_s"][phase])
            row[f"{phase} median (ms)"] = mid * 1e3
            row[f"{phase} 95 % CI (ms)"] = f"{low * 1e3:.1f}-{high * 1e3:.1f}"
        row["MFLOPs / image"] = net["flops_per_image"] / 1e6
        if "peak_memory_bytes" in net:
            row["peak train-step memory (MiB)"] = net["peak_memory_bytes"] / 2**20
        rows.append(row)
    return pd.DataFrame(rows)


def _row(what: str, c: comparison.Comparison, slower: str) -> dict:
    """A ratio as how many times slower ``slower`` is, whichever side the rule found faster."""
    ratio, low, high = c.slowdown(slower)
    return {"comparison": what, "ratio": round(ratio, 3), "95 % CI": f"{low:.3f}-{high:.3f}", "verdict": c.words()}


def writeup001_ratios(sbs: SideBySide) -> pd.DataFrame:
    """Fig. 3 and the size claims as ratios: split over shared backbone per backbone, and each
    backbone over the next smaller one (mean of the five structures within a round)."""
    shared = [s for s in sbh.STRUCTURES if sbh.STRUCTURES[s].shared_backbone]
    split = [s for s in sbh.STRUCTURES if not sbh.STRUCTURES[s].shared_backbone]
    rows = []
    for b in sbh.BACKBONES:
        c = sbs.versus(
            [f"{s}-{b}" for s in shared], [f"{s}-{b}" for s in split], label_a=f"shared {b}", label_b=f"split {b}"
        )
        rows.append(_row(f"{b}: split / shared backbone", c, f"split {b}"))
    every = list(sbh.STRUCTURES)
    for small, large in itertools.pairwise(sbh.BACKBONES):
        c = sbs.versus([f"{s}-{small}" for s in every], [f"{s}-{large}" for s in every], label_a=small, label_b=large)
        rows.append(_row(f"{large} / {small} (mean of the 5 structures)", c, large))
    return pd.DataFrame(rows)


def writeup003_ratios(sbs: SideBySide) -> pd.DataFrame:
    """The transformer against every other network, per image, for each timed phase."""
    rows = []
    for phase in sbs.record.side_by_side["phases"]:
        for other in (n for n in sbs.networks if n != "transformer"):
            c = sbs.versus(other, "transformer", phase=phase, per_image=True)
            rows.append(_row(f"{phase} per image: transformer / {other}", c, "transformer"))
    return pd.DataFrame(rows)


RATIOS = {"writeup001": writeup001_ratios, "writeup003": writeup003_ratios}


def build(df: pd.DataFrame, figures_dir: Path, link_prefix: str, *, records: dict | None = None, **_) -> dict:
    groups = []
    for case in speed.CASES:
        sbs = side_by_side(records, case.id)
        if sbs is None:
            continue
        groups.append(
            {
                "id": case.id,
                "writeup": case.writeup,
                "unit": case.unit,
                "words": sbs.words(),
                "table": network_table(sbs),
                "ratios": RATIOS[case.id](sbs),
            }
        )
    return {"groups": groups}
