"""Korean pages: ``python -m reports render RESULTS --lang ko``.

Generated sentences come from the message catalog (``reports/catalog.py``); what is not yet
marked there goes through this module: the English page passed through one glossary,
``reports/glossary_ko.csv`` (``kind,en,ko``), so that every term has one translation in one file:

- ``heading``: phrases inside Markdown headings (and the table of contents' link texts);
- ``column``: a table's header cell, matched whole;
- ``cell``: a body cell's verdict or status, matched at the start of the cell;
- ``sentence``: a generated sentence, ``{name}`` standing for any text (numbers, names);
- ``budget``: phrases of the budget paragraph (the one that opens with "Budget of every number below").

Explanatory paragraphs of the templates stay in English, and the page says so. Code spans and
link targets are never translated; the table of contents' anchors follow the translated headings.
Each page also gets the map from the write-ups' figures and tables to this report's files
(``studies/writeups/figure_map.csv``).
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path

LANGUAGES = ("en", "ko")
GLOSSARY = Path(__file__).resolve().parent / "glossary_ko.csv"
FIGURE_MAP = Path(__file__).resolve().parent.parent / "studies" / "writeups" / "figure_map.csv"
KO_NOTE = (
    "> 이 페이지의 비교·판정 문장과 요약 문장은 메시지 카탈로그(`locale/ko/LC_MESSAGES/messages.po`)에서, "
    "주장 열은 문서 원문에서, 제목·열 이름·표의 판정은 용어집(`reports/glossary_ko.csv`)에서 옵니다. "
    "설명 문단과 그림은 아직 영어입니다."
)
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}")
_PROTECTED = re.compile(r"`[^`\n]*`|\]\([^)\n]*\)")


@lru_cache(maxsize=1)
def glossary() -> dict[str, list[tuple[str, str]]]:
    """kind -> [(en, ko)], longest English first so that a longer phrase wins over its parts."""
    out: dict[str, list[tuple[str, str]]] = {}
    with GLOSSARY.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["kind"], []).append((row["en"], row["ko"]))
    return {kind: sorted(pairs, key=lambda p: -len(p[0])) for kind, pairs in out.items()}


def _phrase(text: str, pairs: list[tuple[str, str]]) -> str:
    for en, ko in pairs:
        text = re.sub(rf"(?<![\w-]){re.escape(en)}(?![\w-])", lambda _m, ko=ko: ko, text)
    return text


def _pattern(en: str) -> re.Pattern:
    """A sentence with ``{name}`` holes: literal text elsewhere, any run of spaces matching any whitespace."""
    parts = re.split(r"\{(\w+)\}", en)
    regex = ""
    for i, part in enumerate(parts):
        if i % 2:
            regex += rf"(?P<{part}>[^\n*]+?)"  # one line, never across a bold mark
        else:
            regex += r"\s+".join(re.escape(word) for word in part.split(" "))
    return re.compile(regex)


def _sentences(text: str) -> str:
    for en, ko in glossary().get("sentence", []):
        text = _pattern(en).sub(lambda m, ko=ko: ko.format(**m.groupdict()), text)
    return text


def _protect(text: str) -> tuple[str, list[str]]:
    kept: list[str] = []

    def hold(m: re.Match) -> str:
        kept.append(m.group(0))
        return f"\x00{len(kept) - 1}\x00"

    return _PROTECTED.sub(hold, text), kept


def _restore(text: str, kept: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _unquote(line: str) -> str:
    return line[2:] if line.startswith("> ") else line


def _is_row(line: str) -> bool:
    return _unquote(line).startswith("|")


def _table_row(line: str, kind: str) -> str:
    """A table row of a page (or of its quoted header block): a header row's cells are column
    names; a body cell is a verdict or status, or a row label that the column glossary names."""
    quote = "> " if line.startswith("> ") else ""
    words = dict(glossary().get("column", []))
    out = []
    for cell in _unquote(line).strip().strip("|").split("|"):
        stripped = cell.strip()
        new = words.get(stripped, stripped) if kind == "column" else _cell(stripped)
        if kind == "cell" and new == stripped:
            new = words.get(stripped, stripped)
        out.append(f" {new} ")
    return quote + "|" + "|".join(out) + "|"


def _cell(text: str) -> str:
    for en, ko in glossary().get("cell", []):
        if text.startswith(en) and (len(text) == len(en) or not text[len(en)].isalnum()):
            return ko + text[len(en) :]
    return text


def translate(markdown: str, lang: str) -> str:
    """The page in ``lang``; English is returned unchanged."""
    if lang == "en":
        return markdown
    if lang not in LANGUAGES:
        raise ValueError(f"--lang {lang!r}: valid choices: {', '.join(LANGUAGES)}")
    text, kept = _protect(markdown)
    text = _sentences(text)
    headings = glossary().get("heading", [])
    anchors: dict[str, str] = {}
    lines = text.split("\n")
    in_budget = False
    for i, line in enumerate(lines):
        if line.startswith("#"):
            marks, title = line.split(" ", 1) if " " in line else (line, "")
            new = _phrase(title, headings)
            anchors[slug(_restore(title, kept))] = slug(_restore(new, kept))
            lines[i] = f"{marks} {new}"
        elif _is_row(line) and i + 1 < len(lines) and _SEPARATOR.match(_unquote(lines[i + 1])):
            lines[i] = _table_row(line, "column")
        elif _is_row(line) and not _SEPARATOR.match(_unquote(line)):
            lines[i] = _table_row(line, "cell")
        elif re.match(r"\s*[*-] \[", line):  # a table-of-contents entry: its text is a heading
            lines[i] = _phrase(line, headings)
        if "Budget of every number below" in line:
            in_budget = True
        if in_budget:
            lines[i] = _phrase(lines[i], glossary().get("budget", []))
            in_budget = bool(line.strip())
    text = _restore("\n".join(lines), kept)
    text = re.sub(r"\]\(#([^)]+)\)", lambda m: f"](#{anchors.get(m.group(1), m.group(1))})", text)
    title_end = text.find("\n")
    return text[: title_end + 1] + "\n" + KO_NOTE + "\n" + text[title_end + 1 :] if title_end >= 0 else text


def figure_map(page: str, out: Path, lang: str) -> str:
    """The Markdown section mapping the write-ups' figures and tables of ``page`` to this report's
    files (written in English; ``translate`` turns its heading and columns)."""
    with FIGURE_MAP.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["page"] == page]
    if not rows:
        return ""
    lines = [
        "",
        "## Write-up figures and tables in this report",
        "",
        "| write-up | item | about | our file |",
        "|---|---|---|---|",
    ]
    for row in rows:
        target, _, section = row["ours"].partition("#")
        if (out / target).is_file() or target == f"{page}.md":
            shown = f"{target}, {'절' if lang == 'ko' else 'section'} {section}" if section else target
            ours = f"[{shown}]({target})"
        else:
            ours = "not in this run"
        lines.append(f"| {row['writeup']} | {row['item']} | {row['what_ko' if lang == 'ko' else 'what_en']} | {ours} |")
    return "\n".join(lines) + "\n"
