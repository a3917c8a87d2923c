"""Plain-text basics for stories in any script: words, sentences, the language, reading rates, whole-word
mentions. Pure functions, no models. Reading a book's structure (front matter, chapters, paragraphs) is in
`storyforge.reading`.

Words are Unicode words: the `regex` module's `\\w` includes combining marks, so a Devanagari vowel sign or
virama stays inside its word (Python's `re` splits "किताब" into three). Sentence ends include the danda (।)
and CJK marks; a closing quote stays with its sentence.
"""

from __future__ import annotations

import functools
import unicodedata

import regex as re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff\u00ad]")  # and soft hyphens
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…।॥。！？](?:\s?['\"”’»)\]])*)\s+(?=\S)(?![»”])")  # "« Vraiment ? » dit-il."
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Mme|Mlle|Dr|St|Mt|Prof|Sr|Jr|Hr|Fr|Capt|Col|Gen|Lt|Rev|Hon|vs|etc|viz|cf|No|Vol|ch)"
    r"|\b[A-Z]|\be\.g|\bi\.e)\.$"
)
_DEVANAGARI = re.compile(r"\p{Devanagari}")
_LATIN = re.compile(r"\p{Latin}")

# Narration speed by language, words a minute: what planned shot lengths assume before the voice is measured.
WORDS_PER_MINUTE = {"en": 160.0, "hi": 130.0, "fr": 165.0, "de": 140.0, "es": 170.0}


def clean(text: str) -> str:
    """NFC, Unix newlines, tabs as spaces, no control, zero-width or soft-hyphen characters, no-break spaces as
    spaces."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text).replace("\t", "    ").replace("\u00a0", " ")


def words(text: str) -> list[str]:
    """Unicode words (letters and digits with their combining marks; "don't" is one word)."""
    return _WORD.findall(text)


def sentences(text: str) -> list[str]:
    """Split into sentences at . ! ? … and the danda (।), keeping closing quotes with their sentence and not
    splitting after abbreviations and initials ("Mr.", "J.") or before a lower-case continuation ("“Go!” she said.")."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text.strip()):
        part = part.strip()
        if not part:
            continue
        if out and (_ABBREVIATION.search(out[-1]) or part[0].islower() or part[0] in ",;:—–"):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def language(text: str) -> str:
    """ISO 639-1 guess from the script and common words: 'hi' for mostly Devanagari letters; among Latin-script
    texts 'fr', 'de' or 'es' when their function words clearly outnumber English ones; else 'en'."""
    letters = [c for c in text[:20000] if c.isalpha()]
    if letters and sum(bool(_DEVANAGARI.match(c)) for c in letters) > len(letters) / 2:
        return "hi"
    counts = {lang: 0 for lang in _FUNCTION_WORDS}
    for word in words(text[:20000].lower()):
        for lang, vocabulary in _FUNCTION_WORDS.items():
            counts[lang] += word in vocabulary
    best = max(counts, key=counts.get)
    return best if counts[best] > 1.5 * counts["en"] else "en"


_FUNCTION_WORDS = {
    "en": set("the and of to a in was he that it his her you with she had for as said not but on at".split()),
    "fr": set("le la les et de des un une est il elle que qui dans pas pour sur au du ne se vous je".split()),
    "de": set("der die das und ist nicht ein eine ich sie er zu den mit sich auf dem des auch wie".split()),
    "es": set("el la los las y de que en un una es no se por con para su al lo como pero".split()),
}


def words_per_minute(language: str) -> float:
    return WORDS_PER_MINUTE.get(language, WORDS_PER_MINUTE["en"])


@functools.lru_cache(maxsize=8192)
def mention(name: str) -> re.Pattern:
    """A whole-word pattern for a name: not inside a longer word or a hyphenated one ("Tom" is not in "Tom-tit")."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w]|-\w)")


def mentions(name: str, text: str) -> bool:
    return bool(name) and bool(mention(name).search(text))


def is_latin(text: str) -> bool:
    return bool(_LATIN.search(text))
