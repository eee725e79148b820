"""The one rule that decides, for any two items, "A beats B", "tie (within noise)" or "one seed, untested".

Every page and every section uses it, so a pair cannot be a tie in one place and a win in
another on the same evidence, and "best", "fastest" or "slowest" is said only of an item that
beats every other item by the rule (``ranking``).

The rule: A beats B when the 95 % interval of the difference excludes 0 (of a time ratio: 1).

- Accuracy (higher is better), over the cells both items ran (``accuracy``). The independent
  unit is the case: its seeds are averaged first, and the interval is Student's t over the
  per-case differences. Where only one case is compared, the seeds are the units (each seed
  is its own training run; an item made of several structures is averaged within each seed
  first): Welch's interval over the two items' seeds. With fewer than two seeds on a side the
  pair is "one seed, untested".
- Time (lower is better), only from networks timed side by side in one process (study
  ``speed``; ``times``). The unit is the round: each round times every network once, so the
  ratio is taken round by round, and the interval is the distribution-free one of the median
  ratio (binomial order statistics; no assumption about the rounds' distribution). A group
  (e.g. the split-backbone structures) is timed as the mean of its members within each round.

Every comparison made while a page is built is kept in ``LEDGER``; ``python -m reports render``
writes it beside the page (``verdicts-<study>.json``), and the audit test reads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from reports.catalog import _

CONFIDENCE = 0.95
BEATS, TIE, UNTESTED = "beats", "tie (within noise)", "one seed, untested"
# The distribution-free interval of a median needs this many rounds at 95 %.
MIN_ROUNDS = 6


@dataclass(frozen=True)
class Comparison:
    leader: str  # the item with the better estimate
    other: str
    outcome: str  # BEATS, TIE or UNTESTED
    kind: str  # "accuracy" (estimate = leader - other) or "time" (estimate = other / leader, > 1)
    metric: str
    estimate: float
    low: float
    high: float
    units: int
    unit: str  # what was independent: "cases (seeds averaged)", "seeds", "rounds side by side"
    leader_value: float = math.nan
    other_value: float = math.nan
    source: str = ""  # time: the side-by-side record the rounds come from
    cells: tuple[str, ...] = ()  # accuracy: the cases compared

    @property
    def beats(self) -> bool:
        return self.outcome == BEATS

    def slowdown(self, slower: str) -> tuple[float, float, float]:
        """A time comparison as how many times ``slower`` takes the other's time (ratio, low, high),
        whichever of the two the rule found faster."""
        if self.other == slower:
            return self.estimate, self.low, self.high
        return 1 / self.estimate, 1 / self.high, 1 / self.low

    def words(self) -> str:
        """The comparison as one sentence, the same wherever it is printed (one catalog message per shape)."""
        a, b, n, source = f"**{self.leader}**", f"**{self.other}**", self.units, self.source
        if self.kind == "time":
            ratio, low, high = f"{self.estimate:.2f}", f"{self.low:.2f}", f"{self.high:.2f}"
            fields = {"a": a, "b": b, "ratio": ratio, "low": low, "high": high, "n": n, "source": source}
            if self.outcome == BEATS:
                return _(
                    "{a} is faster than {b}: {ratio}x (95 % CI {low}-{high}x over {n} rounds side by side, `{source}`)",
                    **fields,
                )
            return _(
                "tie (within noise): {a} and {b}, time ratio {ratio}x"
                " (95 % CI {low}-{high}x over {n} rounds side by side, `{source}`)",
                **fields,
            )
        gap, x, y = f"{self.estimate:.4f}", f"{self.leader_value:.4f}", f"{self.other_value:.4f}"
        low, high = f"{self.low:+.4f}", f"{self.high:+.4f}"
        if self.outcome == UNTESTED:
            return _("one seed, untested: {a} {x} and {b} {y} are {gap} apart", a=a, b=b, x=x, y=y, gap=gap)
        # One whole sentence per shape, so that a translation can order its parts freely.
        fields = {"a": a, "b": b, "x": x, "y": y, "gap": gap, "low": low, "high": high, "n": n}
        per_case = self.unit == "cases (seeds averaged)"
        if self.outcome == BEATS and per_case:
            return _(
                "{a} ({x}) beats {b} ({y}) by {gap} (95 % CI {low} to {high} over {n} cases (seeds averaged))", **fields
            )
        if self.outcome == BEATS:
            return _(
                "{a} ({x}) beats {b} ({y}) by {gap} (95 % CI {low} to {high} over {n} seeds of one case)", **fields
            )
        if per_case:
            return _(
                "tie (within noise): {a} and {b} are {gap} apart"
                " (95 % CI {low} to {high} over {n} cases (seeds averaged))",
                **fields,
            )
        return _(
            "tie (within noise): {a} and {b} are {gap} apart (95 % CI {low} to {high} over {n} seeds of one case)",
            **fields,
        )


@dataclass
class Ledger:
    comparisons: list[Comparison] = field(default_factory=list)
    rankings: list[dict] = field(default_factory=list)

    def clear(self) -> None:
        self.comparisons.clear()
        self.rankings.clear()

    def as_json(self) -> dict:
        return {"comparisons": [asdict(c) for c in self.comparisons], "rankings": list(self.rankings)}


LEDGER = Ledger()


def _kept(comparison: Comparison) -> Comparison:
    LEDGER.comparisons.append(comparison)
    return comparison


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    mean = float(values.mean())
    if len(values) < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean - half, mean + half


def _welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * se)
    return diff - half, diff + half


def accuracy(
    frame: pd.DataFrame, item: str, a: str, b: str, metric: str, cases: Sequence[str], *, label=str
) -> Comparison:
    """``a`` against ``b`` on ``metric`` over the cases (``cases``: the columns naming one
    case besides ``item``, e.g. backbone and digits) in which both ran, seeds averaged per case."""
    rows = frame[frame[item].isin([a, b])].dropna(subset=[metric])
    keys = list(cases)
    per_case = rows.groupby([*keys, item])[metric].mean().unstack(item) if keys else None
    if keys:
        per_case = per_case.reindex(columns=[a, b]).dropna()
        n_cases = len(per_case)
    else:
        n_cases = 1
    cells = tuple(" ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in per_case.index) if keys else ()
    if n_cases >= 2:
        diffs = (per_case[a] - per_case[b]).to_numpy()
        mean_a, mean_b = float(per_case[a].mean()), float(per_case[b].mean())
        low, high = _t_interval(diffs)
        units, unit = n_cases, "cases (seeds averaged)"
    else:
        if keys and n_cases == 1:
            only = per_case.index[0]
            match = np.ones(len(rows), dtype=bool)
            for key, value in zip(keys, only if isinstance(only, tuple) else (only,), strict=True):
                match &= rows[key].to_numpy() == value
            rows = rows[match]
        # A group of structures (e.g. the split heads) is one value per seed, not one per record.
        va, vb = (rows[rows[item] == side].groupby("seed")[metric].mean().to_numpy(dtype=float) for side in (a, b))
        mean_a = float(va.mean()) if len(va) else math.nan
        mean_b = float(vb.mean()) if len(vb) else math.nan
        units, unit = min(len(va), len(vb)), "seeds of one case"
        low, high = _welch_interval(va, vb) if units >= 2 else (math.nan, math.nan)
    diff = mean_a - mean_b
    flip = diff < 0
    leader, other = (b, a) if flip else (a, b)
    leader_value, other_value = (mean_b, mean_a) if flip else (mean_a, mean_b)
    if flip:
        low, high = -high, -low
    outcome = UNTESTED if units < 2 or math.isnan(low) else BEATS if low > 0 else TIE
    return _kept(
        Comparison(
            label(leader),
            label(other),
            outcome,
            "accuracy",
            metric,
            abs(diff),
            low,
            high,
            units,
            unit,
            leader_value,
            other_value,
            cells=cells,
        )
    )


def median_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Median and its distribution-free 95 % interval (order statistics of a binomial(n, 1/2))."""
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    if n < MIN_ROUNDS:
        return float(np.median(ordered)), math.nan, math.nan
    k = int(stats.binom.ppf((1 - CONFIDENCE) / 2, n, 0.5))  # 1-based rank of the lower end
    return float(np.median(ordered)), float(ordered[k - 1]), float(ordered[n - k])


def times(
    rounds_a: Sequence[float],
    rounds_b: Sequence[float],
    a: str,
    b: str,
    *,
    metric: str,
    source: str,
    cells: tuple[str, ...] = (),
):
    """``a`` against ``b`` from rounds timed side by side (round i of each in the same round)."""
    ra, rb = np.asarray(rounds_a, dtype=float), np.asarray(rounds_b, dtype=float)
    if len(ra) != len(rb):
        raise ValueError(f"{a} and {b}: {len(ra)} and {len(rb)} rounds; side-by-side rounds pair one to one")
    ratio, low, high = median_interval(rb / ra)
    leader, other = a, b
    if ratio < 1:
        ratio, low, high = 1 / ratio, 1 / high, 1 / low
        leader, other = b, a
    outcome = UNTESTED if math.isnan(low) else (BEATS if low > 1 else TIE)
    value = {a: float(np.median(ra)), b: float(np.median(rb))}
    return _kept(
        Comparison(
            leader,
            other,
            outcome,
            "time",
            metric,
            ratio,
            low,
            high,
            len(ra),
            "rounds side by side",
            value[leader],
            value[other],
            source=source,
            cells=cells,
        )
    )


def group_rounds(rounds: dict[str, Sequence[float]], members: Sequence[str]) -> np.ndarray:
    """Per round, the mean time of ``members`` (a group timed as one, e.g. the split-backbone structures)."""
    return np.mean([np.asarray(rounds[m], dtype=float) for m in members], axis=0)


def ranking(
    items: Sequence[str],
    versus: Callable[[str, str], Comparison],
    *,
    what: str,
    best_word: str,
    label=str,
    slower: bool = False,
) -> dict:
    """The leader of ``items`` (ordered best first by their means) and whom it beats: ``best_word``
    ("best", "fastest", "slowest") is given only when it beats every other item by the rule;
    otherwise the items it does not beat are named with it as tied. ``slower``: the leader is the
    slowest, so it wins a time comparison by losing it beyond noise. Kept in the ledger."""
    leader, rest = items[0], list(items[1:])
    against = [versus(leader, other) for other in rest]

    # A leader by the means may still lose a comparison on its evidence (e.g. per-case medians).
    def won(c: Comparison) -> bool:
        return c.beats and (c.other if slower else c.leader) == label(leader)

    def opponent(c: Comparison) -> str:
        return c.leader if c.other == label(leader) else c.other

    tied = [c for c in against if not won(c)]
    named = bool(rest) and not tied
    group = [label(leader), *(opponent(c) for c in tied)]
    entry = {"what": what, "word": best_word, "leader": label(leader), "named": named, "tied": [] if named else group}
    LEDGER.rankings.append(entry)
    word = _leader_word(best_word)
    if not rest:
        text = _("only {a} measured", a=f"**{label(leader)}**")
    elif named:
        text = _("{word}: {a}; {verdict}", word=word, a=f"**{label(leader)}**", verdict=against[0].words())
    else:
        names = ", ".join(f"**{g}**" for g in group)
        text = _(
            "no single {word}, {names} tie (within noise); {verdict}", word=word, names=names, verdict=tied[0].words()
        )
    return {**entry, "text": text, "comparisons": against}


def _leader_word(word: str) -> str:
    """What a ranking calls its leader, in the page's language."""
    words = {"best": _("best"), "fastest": _("fastest"), "slowest": _("slowest"), "most accurate": _("most accurate")}
    if word not in words:
        raise ValueError(f"best_word {word!r}: valid choices: {', '.join(words)}")
    return words[word]
