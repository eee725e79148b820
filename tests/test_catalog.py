"""The message catalogs: every text the code and templates mark has its Korean translation,
a missing one fails the render instead of showing English, and a Korean particle fits the
word it follows."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from reports import catalog
from reports.comparison import Comparison
from reports.korean import particle

ROOT = Path(__file__).resolve().parent.parent


def marked() -> set[str]:
    """Every message id marked in the code and templates, extracted as ``pybabel extract`` does."""
    found = extract_from_dir(
        ROOT,
        method_map=[("reports/**.py", "python"), ("templates/**.j2", "jinja2")],
        options_map={
            "templates/**.j2": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
        },
    )
    return {m if isinstance(m, str) else m[0] for _, _, m, _, _ in found}


def korean() -> dict[str, str]:
    with catalog.po_path("ko").open("rb") as f:
        return {(m.id if isinstance(m.id, str) else m.id[0]): m for m in read_po(f) if m.id}


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_marked_message_has_a_korean_translation():
    messages, ko = marked(), korean()
    assert messages, "the extraction finds the marked messages"
    untranslated = sorted(m for m in messages if m not in ko or not ko[m].string or ko[m].fuzzy)
    assert not untranslated, f"add to {catalog.po_path('ko')}: {untranslated}"


def test_a_translation_fills_the_same_placeholders_as_its_message():
    for message, entry in korean().items():
        if "python-brace-format" in entry.flags:
            assert fields(entry.string) == fields(message), message


def test_a_missing_korean_message_fails_instead_of_showing_english():
    with catalog.use("ko"), pytest.raises(catalog.MissingMessage, match="no ko translation"):
        catalog._("a sentence no catalog holds: {n}", n=1)
    with catalog.use("en"):
        assert catalog._("a sentence no catalog holds: {n}", n=1) == "a sentence no catalog holds: 1"


def test_an_unknown_language_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid choices: en, ko"), catalog.use("fr"):
        pass


@pytest.mark.parametrize(
    ("word", "forms"),
    [
        ("구조", "와 가 는 를 로"),  # Hangul, ends in a vowel
        ("백본", "과 이 은 을 으로"),  # Hangul, ends in ㄴ
        ("모델", "과 이 은 을 로"),  # ㄹ: 로, not 으로
        ("resnet18", "과 이 은 을 로"),  # 8 = 팔 (ㄹ)
        ("resnet50", "과 이 은 을 으로"),  # 0 = 영 (ㅇ)
        ("resnet34", "와 가 는 를 로"),  # 4 = 사
        ("vgg", "와 가 는 를 로"),  # g = 지
        ("sppf", "와 가 는 를 로"),  # f = 에프
        ("mobilenet_v3_small", "과 이 은 을 로"),  # l = 엘 (ㄹ)
        ("resnet", "과 이 은 을 으로"),  # read as a word: 레스넷
        ("**arch1 (1)**", "과 이 은 을 로"),  # marks skipped: 1 = 일
        ("**arch2 (2)**", "와 가 는 를 로"),  # 2 = 이
    ],
)
def test_a_particle_follows_the_final_sound_of_the_word_before_it(word, forms):
    assert " ".join(particle(word, p) for p in ("와", "이", "은", "을", "로")) == forms
    assert particle(word, "과") == particle(word, "와") and particle(word, "를") == particle(word, "을")


def test_a_word_with_no_readable_end_gets_the_neutral_form():
    assert particle("**", "와") == "와(과)"
    with pytest.raises(ValueError, match="valid choices"):
        particle("구조", "의")


def test_a_korean_verdict_is_one_sentence_with_its_particles():
    tie = Comparison(
        "arch1 (1)",
        "arch3 (3)",
        "tie (within noise)",
        "accuracy",
        "acc",
        0.001,
        -0.002,
        0.004,
        3,
        "cases (seeds averaged)",
        0.97,
        0.969,
    )
    beats = Comparison(
        "vgg", "resnet18", "beats", "accuracy", "acc", 0.01, 0.002, 0.02, 3, "seeds of one case", 0.98, 0.97
    )
    with catalog.use("ko"):
        assert tie.words().startswith("동률 (잡음 범위 내): **arch1 (1)**과 **arch3 (3)**의 차이는 0.0010 ")
        assert beats.words().startswith("**vgg**가 **resnet18**보다 0.0100 높음 (0.9800 대 0.9700, 95 % CI")
    assert tie.words().startswith("tie (within noise): **arch1 (1)** and **arch3 (3)** are 0.0010 apart")


def test_the_claims_column_quotes_the_authors_on_korean_pages_and_translates_on_english_ones():
    from reports.sbh.claims import _claim, claims

    row = claims().iloc[0]
    with catalog.use("ko"):
        assert _claim(row) == {"claim (as written)": row["quote_ko"]}
    assert _claim(row) == {"claim (translated)": row["translation_en"]}
    assert "최선의 선택" in row["quote_ko"]


@pytest.mark.parametrize("page", sorted(p.relative_to(ROOT) for p in ROOT.glob("runs/cpu-*/ko/*.md")), ids=str)
def test_a_shipped_korean_page_shows_the_numbers_of_its_english_page(page):
    """A translation may reorder a sentence, never change a number: the same decimals, each as often."""
    decimals = lambda path: sorted(re.findall(r"\d+\.\d+", (ROOT / path).read_text()))  # noqa: E731
    assert decimals(page) == decimals(page.parent.parent / page.name)
