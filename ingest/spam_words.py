# ruff: noqa: RUF001, RUF002  (Cyrillic words and look-alike letters are the point)
"""Reading a text's words for the spam signals: look-alike letters and keyboard mashing.

Finds the words (`WORD`: runs of letters) and reads each one once into a `Word`: its
case fold, whether it reads as keyboard mashing, the letters and vowels the vowel
ratio counts, and whether it mixes Latin and Cyrillic look-alikes. What was read is
kept in a bounded per-process table (`read_words`), since most words of an inquiry
were seen in earlier ones; the table never changes a result. On top of it,
`homoglyph_words` and `gibberish_reason`. Pure apart from that table; imports nothing
of ours (`ingest.spam` turns what is read here into weighted reasons).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю")
# Every run of four neighbouring keys: one set lookup per window of a word instead of
# a substring search per run (the check runs on every word of every inquiry).
_KEYBOARD_RUNS = frozenset(row[i : i + 4] for row in _KEYBOARD_ROWS for i in range(len(row) - 3))

_LOOKALIKE_LATIN = frozenset("aeopcxykmtbhAEOPCXYKMTBH")
_LOOKALIKE_CYRILLIC = frozenset("аеорсхуукмтвнАЕОРСХУКМТВНіІ")
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Latin then Cyrillic vowels: the look-alike letters are meant.
_VOWELS = frozenset("aeiouyаеёиоуыэюя")
# The same vowels as regular expressions: one C-level scan per word instead of a
# Python loop over its letters (every inquiry's every word is checked).
_CONSONANT_RUN = re.compile(f"[^{''.join(sorted(_VOWELS))}]{{6,}}")
_A_VOWEL = re.compile(f"[{''.join(sorted(_VOWELS))}]")


def homoglyph_words(text: str) -> list[str]:
    """Words mixing the alphabets where one alphabet's letters are all look-alikes of
    the other's ("Зapaбoтoк", "Саsino"). Hyphens and digits split words, so "SAP-система",
    "XR-200" and "iPhone" are never such words."""
    words = WORD.findall(text)
    return [word for word, info in zip(words, read_words(words), strict=True) if info.homoglyph]


def _is_homoglyph(word: str) -> bool:
    latin = [ch for ch in word if "a" <= ch.lower() <= "z"]
    cyrillic = [ch for ch in word if "\u0400" <= ch <= "\u04ff"]
    if not latin or not cyrillic or len(word) < 3:
        return False
    return all(ch in _LOOKALIKE_LATIN for ch in latin) or all(
        ch in _LOOKALIKE_CYRILLIC for ch in cyrillic
    )


def gibberish_reason(text: str) -> str | None:
    """Why the text reads as keyboard mashing, or None when it reads as language."""
    return gibberish_reason_of(read_words(WORD.findall(text)))


def gibberish_reason_of(words: list[Word]) -> str | None:
    """`gibberish_reason` of a text whose words `read_words` has read."""
    letters = "".join([w.folded for w in words])
    if len(letters) < 4:
        return None
    mashed = [w.folded for w in words if w.mashed]
    if len(mashed) * 2 >= len(words):
        return f"keyboard mashing: {', '.join(mashed[:3])}"
    # Abbreviations (ВВГнг, км, CRM) are legitimately vowel-poor: leave them out.
    prose = sum([w.prose for w in words])
    if prose >= 8:
        vowel_ratio = sum([w.prose_vowels for w in words]) / prose
        if not 0.12 <= vowel_ratio <= 0.75:
            return f"vowel ratio {vowel_ratio:.2f} is unlike any language"
    if len(letters) >= 12:
        entropy = _entropy(letters)
        if entropy < 2.5:
            return f"too few distinct letters (entropy {entropy:.1f} bits)"
    return None


class Word(NamedTuple):
    """What the text signals read of one word, worked out once per distinct word."""

    folded: str
    mashed: bool  # long enough to tell, and reads as keyboard mashing
    prose: int  # letters the vowel ratio counts (0 for short words and abbreviations)
    prose_vowels: int
    homoglyph: bool


class _Words(dict[str, Word]):
    """Word as found in a text → what the signals read of it, filled on first use:
    most words of an inquiry were seen in earlier ones."""

    def __missing__(self, word: str) -> Word:
        folded = word.casefold()
        mashed = len(folded) >= 4 and _looks_mashed(folded)
        prose = vowels = 0
        if len(word) > 2 and not _is_abbrev(word):
            prose, vowels = len(folded), sum([ch in _VOWELS for ch in folded])
        info = self[word] = Word(folded, mashed, prose, vowels, _is_homoglyph(word))
        return info


_WORDS = _Words()
# Emptied when full: a few MiB at most.
_WORDS_KEPT = 20_000


def read_words(words: list[str]) -> list[Word]:
    """What the signals read of each of `words` (as `WORD` found them), in order."""
    if len(_WORDS) > _WORDS_KEPT:
        _WORDS.clear()
    return list(map(_WORDS.__getitem__, words))


def clear_caches() -> None:
    """Empty the per-word table (benchmarks time a cold start with it)."""
    _WORDS.clear()


def _is_abbrev(word: str) -> bool:
    return sum(ch.isupper() for ch in word) >= 2


def _looks_mashed(word: str) -> bool:
    if any(word[i : i + 4] in _KEYBOARD_RUNS for i in range(len(word) - 3)):
        return True
    # Five consonants in a row occur in real words ("взбзд" does not, "ngths" does).
    if _CONSONANT_RUN.search(word) is not None:
        return True
    return len(word) >= 6 and _A_VOWEL.search(word) is None


# A text whose most frequent letter is rarer than this has an entropy above 2.5 bits
# (Shannon entropy is at least -log2 of the largest share: -log2(0.17) = 2.56), with
# room to spare for rounding: the sum need not be worked out.
_SURELY_VARIED = 0.17


def _entropy(letters: str) -> float:
    """The letters' Shannon entropy in bits, or a lower bound of it above 2.5."""
    n_letters = len(letters)
    distinct = set(letters)
    counts = list(map(letters.count, distinct))
    largest = max(counts)
    if largest < _SURELY_VARIED * n_letters:
        return -math.log2(largest / n_letters)
    # The terms in the order of the set, as ever: the same float to the last bit.
    return -sum([n / n_letters * math.log2(n / n_letters) for n in counts])
