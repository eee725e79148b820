"""Korean particles after an inserted name or number: 와/과, 이/가, 은/는, 을/를, 로/으로.

A particle follows the sound of the word before it, so the word is read as a Korean reader
says it: a Hangul syllable by its final consonant (받침), a digit by its Korean reading
(8 = 팔, ends in ㄹ), a Latin letter by its letter name (g = 지, n = 엔), except a name ending in
"net", which is read as a word (넷). Marks such as ``**``, ``)`` or ``%`` are skipped back to
the last letter or digit.
"""

from __future__ import annotations

# (after a vowel, after a consonant): either form names the pair.
PAIRS = {"와": ("와", "과"), "이": ("가", "이"), "은": ("는", "은"), "을": ("를", "을"), "로": ("로", "으로")}
PAIRS.update({consonant: pair for pair in list(PAIRS.values()) for consonant in pair})
# Final sound of each digit's reading: "" vowel, else the final consonant (영 일 이 삼 사 오 육 칠 팔 구).
DIGITS = dict(zip("0123456789", ["ㅇ", "ㄹ", "", "ㅁ", "", "", "ㄱ", "ㄹ", "ㄹ", ""], strict=True))
# Letter names that end in a consonant: 엘, 엠, 엔; every other letter name ends in a vowel (에이, 비, 지, ...).
LETTERS = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ"}
WORDS = {"net": "ㅅ", "backbone": "ㄴ"}  # read as words, not letter by letter: resnet = 레스넷, backbone = 백본
_FINALS = [
    "",
    "ㄱ",
    "ㄲ",
    "ㄳ",
    "ㄴ",
    "ㄵ",
    "ㄶ",
    "ㄷ",
    "ㄹ",
    "ㄺ",
    "ㄻ",
    "ㄼ",
    "ㄽ",
    "ㄾ",
    "ㄿ",
    "ㅀ",
    "ㅁ",
    "ㅂ",
    "ㅄ",
    "ㅅ",
]
_FINALS += ["ㅆ", "ㅇ", "ㅈ", "ㅊ", "ㅋ", "ㅌ", "ㅍ", "ㅎ"]


def final_sound(word: str) -> str | None:
    """The final consonant of ``word`` as read aloud ("" after a vowel); None when nothing is readable."""
    text = word.rstrip()
    while text and not text[-1].isalnum():
        text = text[:-1]
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        return _FINALS[(ord(last) - ord("가")) % 28]
    if last in DIGITS:
        return DIGITS[last]
    lower = text.lower()
    for ending, sound in WORDS.items():
        if lower.endswith(ending):
            return sound
    if last.isascii() and last.isalpha():
        return LETTERS.get(last.lower(), "")
    return None


def particle(word: str, which: str) -> str:
    """The form of particle ``which`` (either form: "와" or "과", "을" or "를", ...) after ``word``;
    the neutral "와(과)" style when the word's sound cannot be read."""
    if which not in PAIRS:
        raise ValueError(f"particle {which!r}: valid choices: {', '.join(sorted(PAIRS))}")
    vowel, consonant = PAIRS[which]
    sound = final_sound(word)
    if sound is None:
        return f"{vowel}({consonant})"
    if vowel == "로":  # 로 after a vowel and after ㄹ, 으로 after any other consonant
        return "로" if sound in ("", "ㄹ") else "으로"
    return consonant if sound else vowel
