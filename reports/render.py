"""Render the Markdown documents: numbers are computed in Python, templates hold layout and prose."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jinja2
import pandas as pd

from harness.fileio import atomic_write_bytes
from reports import catalog
from reports.comparison import LEDGER
from reports.figures import drawing_pool
from reports.i18n import figure_map, translate
from reports.load import Collection
from studies import STUDIES

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FIGURES = "figures"


def md_table(df: pd.DataFrame, floatfmt: str = ".4f", index: bool = True, numparse: bool = True) -> str:
    """``numparse=False`` keeps text cells as written (a signed difference "+0.0054" stays signed)."""
    if df is None or df.empty:
        return "_(no rows)_"
    # tabulate leaves NaN as "nan"; None is what it renders as missing.
    shown = df.astype(object).where(df.notna(), None)
    # Text row labels stay as written: tabulate would print the rate "1.5e-4" as 0.0001.
    text_index = index and numparse and not pd.api.types.is_numeric_dtype(df.index)
    return shown.to_markdown(
        index=index, floatfmt=floatfmt, missingval="—", disable_numparse=[0] if text_index else not numparse
    )


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
    """Templates mark their text with ``{% trans %}``; it is looked up in the page's language
    (``reports/catalog.py``) when the template renders."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["table"] = md_table
    env.install_gettext_callables(catalog.gettext, catalog.ngettext, newstyle=True)
    return env


def render_all(collection: Collection, out: Path, lang: str = "en") -> list[Path]:
    """Every study's page and the index, in ``lang``: its messages from ``reports/catalog.py``;
    headings, column names and table cells not yet in the catalog through ``reports/i18n.py``."""
    with catalog.use(lang):
        return _render_all(collection, out, lang)


def _render_all(collection: Collection, out: Path, lang: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    written, pages = [], []
    with drawing_pool():
        studies = _render_studies(collection, out, env, pages, lang)
    # The figure map links the figures that exist: written only after every drawing finished.
    written += [_write(out / f"{name}.md", _page(text, name, out, lang)) for name, text in pages]
    index = env.get_template("index.md.j2").render(
        studies=studies,
        header=header(collection.frame),
        notes=collection.notes,
        benchmark_files=collection.benchmark_files,
    )
    written.append(_write(out / "index.md", translate(index, lang)))
    return written


def _render_studies(
    collection: Collection, out: Path, env: jinja2.Environment, pages: list[tuple[str, str]], lang: str
) -> list[dict]:
    studies = []
    for study in STUDIES.values():
        if study.report is None:
            continue
        name, title = study.name, study.title
        df = collection.study(name)
        entry = {
            "name": name,
            "title": title,
            "records": len(df),
            "document": f"{name}.md" if len(df) else None,
            "command": study.command,
            "not_run": False,
        }
        builder = importlib.import_module(study.report)
        if not len(df) and hasattr(builder, "not_run"):
            context = builder.not_run(out / FIGURES, FIGURES)
            template = f"{name}_not_run.md.j2"
            text = env.get_template(template).render(
                title=title, command=study.command, notes=collection.notes, **context
            )
            pages.append((name, text))
            entry.update(document=f"{name}.md", not_run=True)
        if len(df):
            LEDGER.clear()
            context = builder.build(
                df, out / FIGURES, FIGURES, records=collection.records, results_dirs=collection.sources
            )
            # Every comparison the page states, with its evidence: what the audit test checks the page against.
            verdicts = json.dumps(LEDGER.as_json(), indent=1, default=str) + "\n"
            _write(out / FIGURES / f"{name}_verdicts.json", verdicts)
            text = env.get_template(study.template).render(
                title=title, command=study.command, header=header(df), notes=collection.notes, **context
            )
            pages.append((name, text))
            entry["passed"] = int((df["status"] == "passed").sum())
        studies.append(entry)
    return studies


def _page(text: str, name: str, out: Path, lang: str) -> str:
    return translate(text + figure_map(name, out, lang), lang)


def _write(path: Path, text: str) -> Path:
    atomic_write_bytes(path, text.encode())
    return path
