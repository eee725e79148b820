"""Collect result records from directories and files into one pandas table.

Runs split across machines merge here: every path given is searched for ``*.json``.
pytest-benchmark's own JSON files are recognised and listed (their timings are already in
the records); a case present more than once keeps its newest record, and the report says
so; a file that is not a readable record is skipped with a warning that names it.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.records import MEASURED_STATUSES, RecordError, ResultRecord, read_record

KEY = ["study", "case_id", "seed"]


@dataclass
class Collection:
    frame: pd.DataFrame  # one row per kept record; nested fields flattened with "."
    records: dict[tuple, ResultRecord]  # KEY -> record, for curves and other nested data
    notes: list[str] = field(default_factory=list)  # duplicates resolved, files skipped
    benchmark_files: list[Path] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)  # the directories and files given

    def study(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame["study"] == name].copy() if len(self.frame) else self.frame


def _json_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.json") if not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return files


def _is_benchmark_json(path: Path) -> bool:
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(raw, dict) and "benchmarks" in raw and "machine_info" in raw


def collect(paths: list[Path]) -> Collection:
    kept: dict[tuple, tuple[ResultRecord, Path]] = {}
    notes, bench_files, replaced = [], [], set()
    for path in _json_files([Path(p) for p in paths]):
        if _is_benchmark_json(path):
            bench_files.append(path)
            continue
        try:
            record = read_record(path)
        except RecordError as exc:
            warnings.warn(f"skipped {exc}", stacklevel=2)
            notes.append(f"skipped `{path}`: {str(exc).split(': ', 1)[-1]}")
            continue
        key = (record.study, record.case_id, record.seed)
        if key in kept:
            older, newer = sorted([kept[key], (record, path)], key=lambda rp: rp[0].finished_at or "")
            notes.append(
                f"`{record.case_id}` (seed {record.seed}) has two records; kept `{newer[1]}` "
                f"({newer[0].finished_at}) over `{older[1]}` ({older[0].finished_at})"
            )
            kept[key] = newer
            replaced.add(key)
        else:
            kept[key] = (record, path)
    records = {key: rp[0] for key, rp in sorted(kept.items())}
    frame = pd.json_normalize([_flat(r) for r in records.values()]) if records else pd.DataFrame(columns=KEY)
    # A case whose older record was replaced by a newer one is a rerun; tables mark it.
    frame["rerun"] = [key in replaced for key in records] if records else pd.Series(dtype=bool)
    return Collection(frame, records, notes, bench_files, [Path(p) for p in paths])


def measured(frame: pd.DataFrame) -> pd.Series:
    """True for the records whose numbers count (``harness.records.MEASURED_STATUSES``)."""
    return frame["status"].isin(MEASURED_STATUSES)


UNKNOWN_MACHINE = "unknown (schema-1 records without a fingerprint, counted as one machine)"


def machine(frame: pd.DataFrame) -> pd.Series:
    """Each record's ``environment.fingerprint`` (what decides its speed), or ``UNKNOWN_MACHINE``."""
    column = frame.get("environment.fingerprint", pd.Series(None, index=frame.index, dtype=object))
    return column.fillna(UNKNOWN_MACHINE)


def busiest_machine(machines: pd.Series, items: pd.Series) -> str:
    """The machine (of ``machines``) whose times a report compares: the one that ran the most
    distinct ``items`` (missing items not counted), then the most records, then the last name."""
    covered = items.groupby(machines).nunique()
    records = machines.value_counts()
    return max(records.index, key=lambda m: (covered.get(m, 0), records[m], m))


def distinct(frame: pd.DataFrame, column: str) -> list:
    """The distinct non-missing values of a flattened record column, sorted (as text where the
    types mix); empty when no record has the column. Budget lines read their settings this way."""
    if column not in frame:
        return []
    values = set(frame[column].dropna())
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def precision(frame: pd.DataFrame) -> pd.Series:
    """Each record's precision as a label ("fp32", "bf16", "fp32 training, bf16 inference").
    Records from before ``--precision`` ran bf16 autocast on CUDA and fp32 on the CPU."""
    before = frame["device"].map({"cuda": "bf16"}).fillna("fp32")
    sides = [
        frame[c].fillna(before) if c in frame else before
        for c in ("environment.precision.train", "environment.precision.inference")
    ]
    return sides[0].where(sides[0] == sides[1], sides[0] + " training, " + sides[1] + " inference")


def precision_words(frame: pd.DataFrame) -> str:
    """The budget line's precision, from what the records say: "precision fp32"; "precision not
    recorded" for records from before ``environment.precision`` (``precision`` would assume one);
    both, with their record counts, where some records say and some do not."""
    column = "environment.precision.train"
    recorded = frame[column].notna() if column in frame else pd.Series(False, index=frame.index)
    labels = "/".join(sorted(set(precision(frame[recorded])))) if recorded.any() else ""
    if recorded.all():
        return f"precision {labels}"
    if not recorded.any():
        return "precision not recorded"
    return (
        f"precision {labels} ({int(recorded.sum())} records), precision not recorded ({int((~recorded).sum())} records)"
    )


def _flat(record: ResultRecord) -> dict:
    row = asdict(record)
    row.pop("curves")
    row.pop("side_by_side")  # every round of every network: read from the record itself (reports/speed.py)
    return row


def find_artifact(results_dirs: list[Path], study: str, name: str | None) -> Path | None:
    """A file a record names in ``artifacts`` (relative to its study folder), under the directories
    the records came from, at any depth (merged shards sit one level down)."""
    if not name:
        return None
    for directory in map(Path, results_dirs):
        if directory.is_dir():
            found = next((p for p in directory.rglob(f"{study}/{name}") if p.is_file()), None)
            if found is not None:
                return found
    return None


def load_predictions(records: dict, results_dirs: list[Path], study: str, case_id: str, seed: int) -> dict | None:
    """A case's stored test ``predictions`` and ``labels``, or None where its record kept none."""
    record = records.get((study, case_id, seed))
    path = find_artifact(results_dirs, study, record.artifacts.get("predictions") if record else None)
    return dict(np.load(path)) if path else None


def collect_and_warn(paths: list[Path], label: str = "") -> Collection:
    """``collect``, printing each file it skipped as a ``warning`` line on stderr (the CLIs' view)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        collection = collect(paths)
    for w in caught:
        print(f"warning{f' ({label})' if label else ''}: {w.message}", file=sys.stderr)
    return collection
