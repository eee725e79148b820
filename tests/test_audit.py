"""An audit of the shipped pages: no verdict on them says more than its measurement carries.

Each page is rendered from the shipped records, then read as a reviewer would: a pair of items
must not be a tie in one place and a win in another of the same section, no verdict sentence
may exist that the one comparison rule did not make (its ledger, ``figures/<study>_verdicts.json``),
"best" / "fastest" / "slowest" / "most accurate" must name only a leader that beats every other,
every speed verdict must cite its side-by-side record, and no time the reports compare may
average records of two machines. Each check is shown to catch a planted defect.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from reports.__main__ import main
from reports.blocks import cases_frame as blocks_frame
from reports.blocks import timed_seeds
from reports.load import collect, machine
from reports.sbh.tables import cases_frame, one_machine_times

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [ROOT / "runs" / "cpu-smoke" / "records", ROOT / "runs" / "cpu-writeup" / "records"]
NAME = r"\*\*([^*]+)\*\*"
# The sentence shapes of reports.comparison.Comparison.words: (pattern, kind, outcome).
# The last group is the estimate as printed, which ties a sentence to the comparison that made it.
VERDICTS = [
    (re.compile(rf"{NAME} \([0-9.]+\) beats {NAME} \([0-9.]+\) by ([0-9.]+)"), "accuracy", "beats"),
    (re.compile(rf"{NAME} is faster than {NAME}: ([0-9.]+)x"), "time", "beats"),
    (re.compile(rf"tie \(within noise\): {NAME} and {NAME} are ([0-9.]+) apart"), "accuracy", "tie (within noise)"),
    (re.compile(rf"tie \(within noise\): {NAME} and {NAME}, time ratio ([0-9.]+)x"), "time", "tie (within noise)"),
]
# What a line compares, where a section states several metrics.
METRICS = {"mean of heads": "acc_mean_heads", "all heads right": "acc_all_heads", "acc_": None}
LEADER = re.compile(rf"(?<!no single )\b(best|fastest|slowest|most accurate): {NAME}")
SPEED = re.compile(r"is faster than|time ratio")


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) per Markdown section of any level."""
    parts = re.split(r"^(#+ .*)$", text, flags=re.M)
    return [("", parts[0]), *zip(parts[1::2], parts[2::2], strict=True)]


def metric_of(line: str) -> str:
    m = re.search(r"`(acc_\w+)`|mean of heads|all heads right", line)
    if not m:
        return ""
    return m.group(1) or METRICS[m.group(0)]


def stated(text: str) -> list[tuple[tuple, frozenset, str, str, str]]:
    """Every verdict sentence: ((section, kind, metric), the pair, outcome, estimate, the line)."""
    found = []
    for heading, body in sections(text):
        for line in body.splitlines():
            for pattern, kind, outcome in VERDICTS:
                for m in pattern.finditer(line):
                    a, b, estimate = m.groups()
                    found.append(((heading, kind, metric_of(line)), frozenset((a, b)), outcome, estimate, line))
    return found


def contradictions(text: str) -> list[str]:
    """Pairs that are a tie and a win in one section."""
    by_key: dict = {}
    for heading, pair, outcome, _, _ in stated(text):
        by_key.setdefault((heading, pair), set()).add(outcome)
    return [f"{h}: {' / '.join(sorted(p))}" for (h, p), outcomes in by_key.items() if len(outcomes) > 1]


def unruled(text: str, ledger: dict) -> list[str]:
    """Verdict sentences that no comparison of the ledger made."""
    made = {
        (
            c["kind"],
            frozenset((c["leader"], c["other"])),
            c["outcome"],
            f"{c['estimate']:.{2 if c['kind'] == 'time' else 4}f}",
        )
        for c in ledger["comparisons"]
    }
    return [line[:120] for key, pair, outcome, est, line in stated(text) if (key[1], pair, outcome, est) not in made]


def unearned_leaders(text: str, ledger: dict) -> list[str]:
    """A leader named where the ledger's ranking found a tie (or made no ranking)."""
    named = {(r["word"], r["leader"]) for r in ledger["rankings"] if r["named"]}
    return [f"{w} {n}" for w, n in LEADER.findall(text) if (w, n) not in named]


def uncited_speed(text: str) -> list[str]:
    """Speed verdicts that do not cite the side-by-side record they come from."""
    return [line[:120] for line in text.splitlines() if SPEED.search(line) and "side by side, `speed/" not in line]


def mixed_fingerprints(frame: pd.DataFrame, keys: list[str]) -> list[str]:
    """Groups of the records whose times a report compares that hold more than one machine."""
    if frame.empty or "inference_s" not in frame:
        return []
    timed = frame[frame["inference_s"].notna()]
    counts = timed.assign(_machine=machine(timed)).groupby(keys)["_machine"].nunique()
    return [str(k) for k, n in counts.items() if n > 1]


def audit(text: str, ledger: dict) -> list[str]:
    return [
        *(f"contradiction: {x}" for x in contradictions(text)),
        *(f"not made by the rule: {x}" for x in unruled(text, ledger)),
        *(f"leader named on a tie: {x}" for x in unearned_leaders(text, ledger)),
        *(f"speed verdict without its side-by-side record: {x}" for x in uncited_speed(text)),
    ]


def page(out: Path, study: str) -> tuple[str, dict]:
    return (out / f"{study}.md").read_text(), json.loads((out / "figures" / f"{study}_verdicts.json").read_text())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    outs = {}
    for records in SHIPPED:
        out = tmp_path_factory.mktemp(records.parent.name)
        assert main(["render", str(records), "--out", str(out)]) == 0
        outs[records.parent.name] = out
    return outs


@pytest.mark.parametrize("run", [p.parent.name for p in SHIPPED])
@pytest.mark.parametrize("study", ["sbh", "blocks"])
def test_shipped_pages_pass_the_audit(rendered, run, study):
    out = rendered[run]
    if not (out / f"{study}.md").exists() or not (out / "figures" / f"{study}_verdicts.json").exists():
        pytest.skip(f"{run} has no {study} records")
    assert audit(*page(out, study)) == []


def test_shipped_time_averages_hold_one_machine_each():
    for records in SHIPPED:
        collection = collect([records])
        sbh_times, _ = one_machine_times(cases_frame(collection.study("sbh")))
        assert mixed_fingerprints(sbh_times, ["experiment", "digits"]) == []
        timed = timed_seeds(blocks_frame(collection.study("blocks")))
        assert mixed_fingerprints(timed, ["study"]) == []


def _copy(rendered, study="sbh") -> tuple[str, dict]:
    return page(rendered["cpu-smoke"], study)


def test_audit_catches_a_tie_in_one_place_and_a_win_in_another(rendered):
    text, ledger = _copy(rendered)
    m = re.search(rf"tie \(within noise\): {NAME} and {NAME} are ([0-9.]+) apart", text)
    assert m, "the shipped page states a tie"
    a, b, gap = m.groups()
    line = text[text.rfind("\n", 0, m.start()) + 1 : text.find("\n", m.end())]
    planted = text.replace(line, f"{line} Elsewhere: **{a}** (0.99) beats **{b}** (0.98) by {gap}.", 1)
    found = audit(planted, ledger)
    assert any(x.startswith("contradiction") for x in found) and any(x.startswith("not made by") for x in found)


def test_audit_catches_a_leader_named_on_a_tie(rendered):
    text, ledger = _copy(rendered)
    m = re.search(rf"no single most accurate, {NAME}", text)
    assert m
    planted = text.replace(m.group(0), f"most accurate: **{m.group(1)}**", 1)
    assert any(x.startswith("leader named on a tie") for x in audit(planted, ledger))


def test_audit_catches_a_speed_verdict_without_its_record(rendered):
    text, ledger = _copy(rendered)
    m = re.search(r"side by side, `speed/[^`]+`", text)
    assert m
    planted = text.replace(m.group(0), "in separate processes", 1)
    assert any(x.startswith("speed verdict without") for x in audit(planted, ledger))


def test_audit_catches_a_time_average_over_two_machines(tmp_path):
    """Plant a record of another machine among the timed ones, and a report that forgot to drop it."""
    shutil.copytree(SHIPPED[0], tmp_path / "records")
    path = next((tmp_path / "records" / "sbh").glob("d012-arch2-resnet18-seed0.json"))
    record = json.loads(path.read_text())
    record["environment"]["fingerprint"] = "another-machine0"
    path.write_text(json.dumps(record))
    frame = cases_frame(collect([tmp_path / "records"]).study("sbh"))
    assert mixed_fingerprints(frame, ["experiment", "digits"]), "without the one-machine rule the average mixes"
    kept, notes = one_machine_times(frame)
    assert mixed_fingerprints(kept, ["experiment", "digits"]) == [] and notes
