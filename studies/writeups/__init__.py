"""The write-ups' own numbers, as data: one CSV per table; README.md here cites the source of each.

Read with the standard library so that the reporter needs no training stack to show them.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@cache
def table(name: str, key: str) -> dict[str, dict]:
    """``<name>.csv`` as {row[key]: row}, numbers as floats (the ``source`` column stays text)."""
    with open(HERE / f"{name}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {row[key]: {k: (v if k in (key, "source") else float(v)) for k, v in row.items()} for row in rows}


def rows(name: str) -> list[dict]:
    """``<name>.csv`` as a list of rows (strings; the caller converts what it uses)."""
    with open(HERE / f"{name}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
