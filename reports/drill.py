"""``python -m reports drill RESULTS``: prove the regression gate works on this run's records.

Compares RESULTS with itself (must pass), then with a copy in which one case's asserted
accuracy is lowered by ``DROP`` (must be caught). Exits 0 only when both hold, so a nightly
job that runs it knows its gate is not silently open.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

DROP = 0.05  # five times the default tolerance; far outside any seed-to-seed spread measured


def plant(results: Path, into: Path) -> str:
    """Copy the records and lower the first passed case's asserted metric; returns what was planted."""
    shutil.copytree(results, into)
    for path in sorted(into.rglob("*.json")):
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or record.get("status") != "passed" or not record.get("thresholds"):
            continue
        metric = sorted(record["thresholds"])[0]
        case = record["case_id"]
        for sibling in sorted(into.rglob("*.json")):  # every seed of that case, so the mean drops by DROP
            other = json.loads(sibling.read_text())
            if isinstance(other, dict) and other.get("case_id") == case and other.get("study") == record["study"]:
                other["metrics"][metric] -= DROP
                sibling.write_text(json.dumps(other))
        return f"{record['study']}/{case} {metric} -{DROP}"
    raise ValueError(f"no passed record with a threshold in {results}")


def compare_main(argv: list[str]) -> int:
    """The gate exactly as a user calls it: ``python -m reports compare ...``."""
    from reports.__main__ import main

    return main(["compare", *argv])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="a directory of result records")


def run(args: argparse.Namespace) -> int:
    results = args.results
    if not results.is_dir():
        print(f"error: {results} is not a directory of result records", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        same = compare_main([str(results), str(results), "--out", f"{tmp}/self.md"])
        try:
            planted = plant(results, Path(tmp) / "planted")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        caught = compare_main([str(results), str(Path(tmp) / "planted"), "--out", f"{tmp}/planted.md"])
    print(f"drill: run against itself -> exit {same} ({'pass' if same == 0 else 'UNEXPECTED'})")
    print(f"drill: planted regression ({planted}) -> exit {caught} ({'caught' if caught == 1 else 'MISSED'})")
    return 0 if (same, caught) == (0, 1) else 1
