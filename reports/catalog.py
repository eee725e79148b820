"""The text of the pages in each language: gettext message catalogs read with Babel.

English is the source: a message's id is its English text. The Korean text lives in
``locale/ko/LC_MESSAGES/messages.po``, which a translator edits; it is compiled in memory when a
Korean page is rendered (no built file to keep in step). Python builds a sentence with one call,
``_("{a} beats {b} by {gap}", a=..., b=..., gap=...)``: the sentence is one message, its names and
numbers named placeholders, so a translation may reorder them. In a translation a placeholder
may carry a particle, ``{a:과}``, ``{b:를}``, ``{n:은}``: the form that fits the inserted word's
final sound (``reports/korean.py``). Templates mark their text with ``{% trans %}`` (jinja2.ext.i18n).

A message without a Korean translation raises ``MissingMessage`` while the page renders, and
``tests/test_catalog.py`` checks that every message the code and templates mark is translated.
Update the catalog after changing a marked text::

    pybabel extract -F babel.cfg --no-location --sort-output -o locale/messages.pot .
    pybabel update -i locale/messages.pot -d locale -l ko --no-fuzzy-matching --omit-header
"""

from __future__ import annotations

import io
import string
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from reports.korean import PAIRS, particle

LANGUAGES = ("en", "ko")
LOCALE = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
_current = ["en"]


class MissingMessage(KeyError):
    pass


def po_path(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> NullTranslations:
    """The catalog of ``lang`` (English: the messages themselves)."""
    if lang not in LANGUAGES:
        raise ValueError(f"--lang {lang!r}: valid choices: {', '.join(LANGUAGES)}")
    if lang == "en":
        return NullTranslations()
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def language() -> str:
    return _current[0]


@contextmanager
def use(lang: str) -> Iterator[None]:
    """Render in ``lang`` inside the block (figure workers forked inside it inherit it)."""
    translations(lang)
    previous, _current[0] = _current[0], lang
    try:
        yield
    finally:
        _current[0] = previous


def gettext(message: str) -> str:
    """``message`` in the current language; a Korean page with an untranslated message fails."""
    lang = language()
    if lang == "en":
        return message
    catalog = translations(lang)
    if message not in catalog._catalog:
        raise MissingMessage(f"no {lang} translation of {message!r} in {po_path(lang)}")
    return catalog.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    lang = language()
    if lang == "en":
        return singular if n == 1 else plural
    catalog = translations(lang)
    if (singular, 0) not in catalog._catalog:
        raise MissingMessage(f"no {lang} translation of {singular!r} in {po_path(lang)}")
    return catalog.ngettext(singular, plural, n)


class _Formatter(string.Formatter):
    """str.format, where a format spec naming a particle (``{a:과}``) appends its right form."""

    def format_field(self, value, format_spec: str) -> str:
        if format_spec in PAIRS:
            shown = format(value, "")
            return shown + particle(shown, format_spec)
        return format(value, format_spec)


_FORMATTER = _Formatter()


def _(message: str, /, **values) -> str:
    """One sentence: ``message`` translated, its ``{name}`` placeholders filled from ``values``."""
    return _FORMATTER.vformat(gettext(message), (), values)
