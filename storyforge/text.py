"""Plain-text handling for stories: normalisation, structure, sentences, names. Pure functions, no models.

Works for Latin and non-Latin scripts: sentence ends include the Devanagari danda (।) and CJK marks, and
names in scripts without capital letters are found from the postpositions that follow them.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HYPHEN_BREAK = re.compile(r"(\w)-\n(\w)")
_BREAK_LINE = re.compile(r"^\s*(\*\s*\*\s*\*[\s*]*|-{3,}|#{3,}|~{3,})\s*$")
_HEADING = re.compile(
    r"^\s*(#{1,6}\s+\S.*|(chapter|part|book)\s+([0-9ivxlc]+|[a-z]+)\b.*|(INT|EXT|INT/EXT|I/E)\.\s.*)$", re.IGNORECASE
)
_SLUGLINE = re.compile(r"^\s*(INT|EXT|INT/EXT|I/E)\.\s")
_SENTENCE_END = re.compile(r"(?<=[.!?…।॥。！？][\"'”’»)\]])\s+|(?<=[.!?…।॥。！？])\s+")
_ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Mt.", "Prof.", "Sr.", "Jr.", "vs.", "e.g.", "i.e.")
_WORD = re.compile(r"\w+(?:['’]\w+)?")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")


def normalize(text: str) -> str:
    """NFC, Unix newlines, no control characters, words re-joined across hyphenated line breaks, and
    hard-wrapped paragraphs unwrapped. Paragraph and scene breaks (blank lines) are kept."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    blocks = re.split(r"(\n\s*\n)", text)
    out = []
    for block in blocks:
        if not block.strip():
            out.append("\n\n\n" if block.count("\n") > 2 else "\n\n")
            continue
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        merged: list[str] = []
        for line in lines:  # headings, sluglines and break markers keep their own line
            if merged and not (
                _HEADING.match(line) or _BREAK_LINE.match(line) or _HEADING.match(merged[-1]) or _BREAK_LINE.match(merged[-1])
            ):
                merged[-1] = f"{merged[-1]} {line}"
            else:
                merged.append(line)
        out.append("\n".join(merged))
    return "".join(out).strip()


def split_title(text: str) -> tuple[str, str]:
    """A short first line without sentence-ending punctuation, followed by a blank line, is a title."""
    first, sep, rest = text.partition("\n\n")
    if sep and "\n" not in first and len(first.split()) <= 12 and not re.search(r"[.!?।,;:]$", first.strip()):
        if not _HEADING.match(first) and not _BREAK_LINE.match(first):
            return first.strip().strip("#").strip(), rest.strip()
    return "", text


def split_sections(text: str) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) blocks between explicit breaks: runs of 2+ blank lines, `***`-style markers,
    chapter headings and screenplay sluglines."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for block in re.split(r"(\n{3,})", text):
        if re.fullmatch(r"\n{3,}", block):
            sections.append(("", []))
            continue
        for para in re.split(r"\n\s*\n", block):
            for line in para.split("\n"):
                line = line.strip()
                if not line:
                    continue
                if _BREAK_LINE.match(line):
                    sections.append(("", []))
                elif _HEADING.match(line):
                    sections.append((line.lstrip("#").strip(), []))
                elif sections[-1][1] and not para.startswith(line):
                    sections[-1][1][-1] += " " + line
                else:
                    sections[-1][1].append(line)
    return [(h, ps) for h, ps in sections if ps]


def sentences(text: str) -> list[str]:
    """Split into sentences at . ! ? … and the danda (।), keeping closing quotes with their sentence."""
    parts = _SENTENCE_END.split(text.strip())
    out: list[str] = []
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if out and (out[-1].endswith(_ABBREVIATIONS) or part[0].islower()):  # “Go!” she said.
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


_QUOTED = re.compile(r"“[^”]+”|\"[^\"]+\"|«[^»]+»|„[^“]+“")


def quoted_spans(text: str) -> list[tuple[bool, str]]:
    """The text as (is_quoted_speech, span) pieces in order: narration between the quotes, the quotes whole."""
    out: list[tuple[bool, str]] = []
    pos = 0
    for match in _QUOTED.finditer(text):
        if before := text[pos : match.start()].strip():
            out.append((False, before))
        out.append((True, match.group(0)))
        pos = match.end()
    if rest := text[pos:].strip():
        out.append((False, rest))
    return out


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def language(text: str) -> str:
    """ISO 639-1 guess from the script: 'hi' for mostly Devanagari letters, else 'en'."""
    letters = [c for c in text if c.isalpha()]
    return "hi" if letters and sum(bool(_DEVANAGARI.match(c)) for c in letters) > len(letters) / 2 else "en"


_NOT_NAMES = set(
    "A An The And But Or So Then When While If As At In On Of To For From With Without By Into Onto Over Under "
    "He She It They We You I Me My Your His Her Its Our Their Them Us This That These Those There Here What Who "
    "Why How Where Which Yes No Not Oh Ah Well Now One Two Three Every Each All Some Nobody Everyone Someone "
    "Mr Mrs Ms Dr Sir Madam Lady Lord Mother Father Mum Dad Grandma Grandpa Monday Tuesday Wednesday Thursday "
    "Friday Saturday Sunday January February March April May June July August September October November "
    "December God Chapter Part INT EXT Just After Before Only Even Still Soon Later Maybe Perhaps Once Long "
    "Behind Beyond Inside Outside Above Below Around Through Across Along Up Down Out Off Back Again Never Ever".split()
)
_HINDI_NOT_NAMES = set("वह वे यह ये उस उन इस इन मैं हम तुम आप उसने उसकी उसका उसके सब कोई किसी दोनों पेड़ घर".split())
_PLACE_WORDS = re.compile(
    r"\b(harbou?r|village|town|city|castle|forest|river|lake|lighthouse|street|road|hill|mountain|valley|"
    r"island|bay|port|market|school|station|inn|tavern|rock|gate|bridge|square|house|hall|tower|shop|workshop)\b",
    re.IGNORECASE,
)
_LOCATION_PREPS = re.compile(
    r"\b(?:in|at|to|from|near|across|toward|towards|into)\s+(?:the\s+)?([A-Z][\w’']+(?:\s+[A-Z][\w’']+)*)"
)


def proper_names(text: str, min_count: int = 3) -> Counter[str]:
    """Capitalised words that recur mid-sentence (or, in Devanagari, before a postposition): name candidates."""
    counts: Counter[str] = Counter()
    if language(text) == "hi":  # no capitals: an agent before the ergative "ने" is a name candidate
        tokens = re.findall(r"[\u0900-\u097f]+", text)
        agents = {tok for tok, nxt in itertools.pairwise(tokens) if nxt == "ने" and tok not in _HINDI_NOT_NAMES and len(tok) > 1}
        counts = Counter(tok for tok in tokens if tok in agents)
        return Counter({k: v for k, v in counts.items() if v >= min_count})
    for sentence in sentences(text):
        tokens = re.findall(r"[\w’']+", sentence)
        for i, tok in enumerate(tokens):
            tok = re.sub(r"[’']s$", "", tok)
            neighbours = tokens[max(i - 1, 0) : i] + tokens[i + 1 : i + 2]
            in_phrase = any(n[:1].isupper() and n not in _NOT_NAMES for n in neighbours if i or n is not tokens[0])
            if tok[:1].isupper() and tok not in _NOT_NAMES and not tok.isupper() and len(tok) > 1 and not in_phrase:
                counts[tok] += 1 if i else 0  # sentence-initial words count only if they also occur mid-sentence
    seen_mid = {k for k, v in counts.items() if v}
    for sentence in sentences(text):
        first = re.sub(r"[’']s$", "", (re.findall(r"[\w’']+", sentence) or [""])[0])
        if first in seen_mid:
            counts[first] += 1
    return Counter({k: v for k, v in counts.items() if v >= min_count})


def place_names(text: str) -> list[str]:
    """Capitalised phrases after a place preposition, or next to a place word ('Saltmere harbour')."""
    found: Counter[str] = Counter()
    for match in _LOCATION_PREPS.finditer(text):
        phrase = match.group(1)
        if phrase.split()[0] not in _NOT_NAMES:
            found[phrase] += 1
    for match in re.finditer(r"\b([A-Z][\w’']+)\s+(" + _PLACE_WORDS.pattern[2:-2] + r")\b", text, re.IGNORECASE):
        if match.group(1) not in _NOT_NAMES and match.group(1)[0].isupper():
            found[f"{match.group(1)} {match.group(2)}"] += 1
    return [name for name, _ in found.most_common()]


def is_place_word(text: str) -> bool:
    return bool(_PLACE_WORDS.search(text))
