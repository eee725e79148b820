"""Render the Markdown documents: numbers are computed in Python, templates hold layout and prose."""
from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from harness.fileio import atomic_write_bytes
from reports import blocks as blocks_report
from reports import emnist as emnist_report
from reports import sbh as sbh_report
from reports.load import Collection

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FIGURES = "figures"
# study -> (title, module whose build() turns the study's records into the template's context)
STUDIES = {
    "sbh": ("Shared vs. split backbone and head (seeds 001, 000)", sbh_report),
    "blocks": ("Small MNIST networks from detector blocks (seed 003)", blocks_report),
    "emnist": ("Model selection on EMNIST Balanced (seed 004)", emnist_report),
}


def md_table(df: pd.DataFrame, floatfmt: str = ".4f", index: bool = True) -> str:
    if df is None or df.empty:
        return "_(no rows)_"
    # tabulate leaves NaN as "nan"; None is what it renders as missing.
    shown = df.astype(object).where(df.notna(), None)
    return shown.to_markdown(index=index, floatfmt=floatfmt, missingval="—")


def header(df: pd.DataFrame) -> dict:
    """The block on top of every document: which machines, profiles, versions and commits."""

    def values(column: str) -> list:
        return sorted({str(v) for v in df[column].dropna()}) if column in df else []

    gpus = values("environment.gpu")
    return {
        "devices": gpus or values("environment.cpu"),
        "device_types": values("device"),
        "profiles": values("profile"),
        "cases": df["case_id"].nunique(),
        "records": len(df),
        "seeds": sorted({int(s) for s in df["seed"]}),
        "torch": values("environment.torch"),
        "torchvision": values("environment.torchvision"),
        "commits": values("git_commit"),
        "first": min(df["started_at"]) if len(df) else None,
        "last": max(df["finished_at"].dropna()) if len(df) else None,
    }


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["table"] = md_table
    return env


def render_all(collection: Collection, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    written = []
    studies = []
    for name, (title, builder) in STUDIES.items():
        df = collection.study(name)
        entry = {"name": name, "title": title, "records": len(df), "document": f"{name}.md" if len(df) else None}
        if len(df):
            context = builder.build(df, out / FIGURES, FIGURES, records=collection.records, results_dirs=collection.sources)
            text = env.get_template(f"{name}.md.j2").render(title=title, header=header(df), notes=collection.notes, **context)
            written.append(_write(out / f"{name}.md", text))
            entry["passed"] = int((df["status"] == "passed").sum())
        studies.append(entry)
    index = env.get_template("index.md.j2").render(studies=studies, header=header(collection.frame), notes=collection.notes, benchmark_files=collection.benchmark_files)
    written.append(_write(out / "index.md", index))
    return written


def _write(path: Path, text: str) -> Path:
    atomic_write_bytes(path, text.encode())
    return path
