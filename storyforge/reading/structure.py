"""A story file as people have it -> what is read aloud, in sections, and what is not (title, author, source).

`read(raw)` undoes what ebooks and hard-wrapping do to a text:
- Project Gutenberg licence header and footer cut (its `Title:`/`Author:` lines kept as facts), back matter
  after "THE END" or a closing transcriber's note dropped;
- front matter (title, "by" line, source and copyright lines, a contents table) taken out of the narration,
  with the title and author recorded;
- `[Illustration]`, `[Footnote …]`, `_emphasis_` and `<i>` markup removed, the words kept;
- line-end hyphens mended with evidence: `to-\\nmorrow` stays hyphenated when the text writes "to-morrow"
  elsewhere, otherwise the halves are joined ("hap-\\npened" -> "happened"); dashes (`--`, `—`) stay dashes;
- paragraphs found from blank lines, from indentation alone, or from a short last line;
- chapter headings joined with the subtitle line under them ("CHAPTER II." + "The Pool of Tears"); scene
  breaks (`* * *`, ornaments, runs of blank lines) and screenplay sluglines open sections;
- play and screenplay cues ("HAMLET." over his lines) become the speaker of the speech under them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import regex as re

from storyforge import text as tx

_GUTENBERG_START = re.compile(r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_GUTENBERG_END = re.compile(
    r"^\s*(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG|End of (?:the )?Project Gutenberg|End of Project Gutenberg'?s).*$",
    re.I | re.M,
)
_GUTENBERG_FACT = re.compile(r"^(Title|Author):\s*(.+)$", re.M)
_BRACKETED = r"(?:[^\[\]]|\[[^\[\]]*\])*"  # inside [...], one level of nested brackets allowed
_MARKUP = [
    (re.compile(rf"(?m)^[ ]*\[(?:Illustration|Image|Picture)\b{_BRACKETED}\][ ]*\n(?:[ ]*\n)?", re.I), ""),  # its own line
    (re.compile(rf"\[(?:Illustration|Footnote|Sidenote|Transcriber'?s? [Nn]ote|Image|Picture)\b{_BRACKETED}\]", re.I), ""),
    (re.compile(r"\[\d{1,3}\]|\{\d{1,3}\}"), ""),  # footnote references
    (re.compile(r"</?(?:i|b|em|strong|u|sc|small)>", re.I), ""),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+(?:\n[^_\n]+)*?)(?<=\S)_(?![\w_])"), r"\1"),  # _emphasis_
    (re.compile(r"(?<![\w=])=(?=\S)([^=\n]+?)(?<=\S)=(?![\w=])"), r"\1"),  # =bold=
]
_LINE_HYPHEN = re.compile(r"(\w+)-[ ]*\n[ ]*(\w+)")
_LINE_DASH = re.compile(r"(?<=\w)(--|—|–)[ ]*\n[ ]*(?=\w)")  # "word--\nword"; not a lone dash, not "— Non"
_ORNAMENT = re.compile(r"^[\W_]{1,40}$")  # * * *, ~~~, ----, ❦, §: no letter or digit
_BLANKISH = re.compile(r"^[ ]*$")
_NUMBER = (  # what follows "Chapter": a number, a roman numeral or a number word
    r"(?:\d+|[ivxlcdm]+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|first|second|third|fourth|fifth|sixth|seventh|"
    r"eighth|ninth|tenth|last|the first|the second|the third|the last|premier|première|deuxième|second|troisième|"
    r"erstes|zweites|drittes|primero|segundo|tercero|एक|दो|तीन|चार|पाँच|पांच|छह|सात|आठ|नौ|दस|पहला|दूसरा|तीसरा)"
)
_CHAPTER = re.compile(
    r"^(?:#{1,6}\s+\S.{0,80}|(?:chapter|chap\.|part|book|volume|canto|section|chapitre|partie|livre|kapitel|teil|buch|"
    rf"cap[ií]tulo|parte|libro|अध्याय|भाग|प्रकरण|खंड)\s+{_NUMBER}(?![\w'’-])(?:[.:—–-]+\s*(?:\S.{{0,70}})?|\s+[—–-]\s+\S.{{0,70}}|\.?)|"
    r"(?:[IVXLC]+|[0-9]{1,3})[.)]?|[IVXLC]+\.\s.{1,60}|(?:prologue|epilogue|prolog|épilogue|epílogo|प्रस्तावना|उपसंहार)[.:]?(?:\s.{0,60})?)$",
    re.I,
)
_CHAPTER_PICTURE = re.compile(
    r"\[Illustration\b[^\[\]]*?\n[ ]*((?:chapter|chap\.|part|book)\s+[0-9ivxlc]+\.?)\][ ]*$", re.I | re.M
)
_BARE_CHAPTER = re.compile(  # a heading with only its number, waiting for its subtitle ("BOOK THE FIRST" / "SOWING")
    rf"^(?:(?:chapter|chap\.|part|book|chapitre|partie|kapitel|cap[ií]tulo|अध्याय|भाग)\s+{_NUMBER}|[IVXLC]+|[0-9]{{1,3}})[\s.:—–-]*$",
    re.I,
)
_SCREEN_TRANSITION = re.compile(r"^(?:FADE (?:IN|OUT|TO BLACK)|CUT TO|DISSOLVE TO|SMASH CUT TO|MATCH CUT TO|THE END)[.:]?$")
_SLUGLINE = re.compile(r"^(?:INT|EXT|INT\.?/EXT|I/E|EST)[.\s]\s*\S.*$")
_CUE = re.compile(r"^([A-Z][A-Z'’. -]{1,30}?)(?:\s*\((?:V\.O\.|O\.S\.|CONT'D|cont'd|aside|[a-z ]+)\))?[.:]?$")
_INLINE_CUE = re.compile(r"^([A-Z][A-Z'’-]{1,20}(?: [A-Z][A-Z'’-]{1,20}){0,2})[.:] +(?=\S)")
_CONTENTS = re.compile(
    r"^(?:(?:table of )?contents|index|list of illustrations|illustrations|table des mati[èe]res|inhalt|"
    r"inhaltsverzeichnis|[íi]ndice|विषय[- ]?सूची|अनुक्रम|सूची)[.:]?$",
    re.I,
)
_PAGE_NUMBER = re.compile(r"\s(?:\d{1,4}|[ivxlcdm]{1,7})\.?$", re.I)
_THE_END = re.compile(r"^(?:THE END|The End|The end|FINIS|Finis|FIN|ENDE|FINE|समाप्त|इति)[.!]?$")
_CLOSING_NOTES = re.compile(r"^(?:transcriber'?s? notes?|notes?|footnotes|endnotes|errata|advertisements?)[.:]?$", re.I)
_SOURCE = re.compile(  # a source, edition or copyright note
    r"(?:\b(?:copyright|published|publishers?|reprinted|edition|translated by|translation|illustrated by|"
    r"illustrations by|all rights|produced by|first produced|proofread|ebook|e-text|etext|transcribed|"
    r"प्रकाशक|प्रकाशन|संस्करण|अनुवाद|éditions?|verlag|editorial)\b|©)",
    re.I,
)
_IMPRINT = re.compile(  # "LONDON: CHAPMAN & HALL", "New York: Harper"
    r"^(?:London|New York|Boston|Philadelphia|Edinburgh|Chicago|Paris|Leipzig|Berlin|Calcutta|Bombay|Allahabad)\s*[:,]", re.I
)
_YEAR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b")
_BY = re.compile(
    r"^[*_]*(?:by|written by|par|von|por|di|de|लेखक|लेखिका|रचयिता)[:\s]+(\S.{0,60}?)[*_]*$|^(.{2,60}?)\s+(?:द्वारा)$", re.I
)
_SENTENCE_END = re.compile(r"[.!?…।॥\"”’»]$")
_DIALOGUE_DASH = re.compile(r"^[—–―]\s")
_SPEECH_START = re.compile(r"^[\"“‘'«„`—–-]")
_PARTICLES = {"de", "van", "von", "du", "da", "del", "la", "le", "of", "the", "and", "&"}


@dataclass
class Document:
    """What `read` found: the facts about the text, and the sections that are read aloud."""

    title: str = ""
    author: str = ""
    sources: list[str] = field(default_factory=list)  # source, copyright and edition lines (not narrated)
    sections: list[tuple[str, list[str]]] = field(default_factory=list)  # (heading, paragraphs)
    cues: dict[str, str] = field(default_factory=dict)  # a play's speech paragraph -> the speaker in its cue
    dropped: list[str] = field(default_factory=list)  # front and back matter taken out, for the record


@dataclass
class _Line:
    text: str
    indent: int
    blanks: int  # blank lines before it


@dataclass
class _Paragraph:
    kind: str  # 'p' (prose), 'h' (heading), 'break', 'cue' (a play's speaker) or 'speech' (under a cue)
    blanks: int  # blank lines before it
    text: str
    lines: list[str]  # as they were in the file


def read(raw: str) -> Document:
    doc = Document()
    text = tx.clean(raw)
    text = _cut_licence(text, doc)
    text = _CHAPTER_PICTURE.sub(lambda m: f"\n\n{m.group(1).strip()}\n\n", text)  # a heading drawn as a picture
    text = _YAML.sub(lambda m: _front_facts(m.group(1), doc), text, count=1)
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    text = re.sub(r"(?m)^[ ]*\[[^\[\]\n]*\][\]]?[ ]*$", lambda m: "" if _SOURCE.search(m.group(0)) else m.group(0), text)
    text = mend_hyphens(text)
    paragraphs = _paragraphs(_lines(text))
    paragraphs = _front_matter(paragraphs, doc)
    paragraphs = _back_matter(paragraphs, doc)
    doc.sections = _sections(paragraphs, doc)
    if not doc.title and doc.sections and not doc.sections[0][0]:
        doc.title = _untitled_first_line(doc)
    return doc


_YAML = re.compile(r"\A\s*---[ ]*\n((?:[\w-]+:.*\n){1,40})---[ ]*\n")  # a Markdown file's front matter


def _front_facts(block: str, doc: Document) -> str:
    """`title:` and `author:` from a YAML front-matter block; the block itself is not narrated."""
    for key, value in re.findall(r"(?m)^(title|author):[ ]*(.*?)[ ]*$", block):
        if value.strip("'\" "):
            setattr(doc, key, value.strip("'\" "))
    doc.dropped.append("front matter block")
    return ""


def _cut_licence(text: str, doc: Document) -> str:
    start = _GUTENBERG_START.search(text)
    if start:
        header = text[: start.start()]
        for key, value in _GUTENBERG_FACT.findall(header):
            setattr(doc, key.lower(), value.strip())
        doc.dropped.append("licence header")
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        doc.dropped.append("licence footer")
        text = text[: end.start()]
    return text


def mend_hyphens(text: str) -> str:
    """Line-end hyphens, mended with evidence from the text itself: `a-b` or `ab`, whichever the text writes
    elsewhere more often; with no such evidence, `a-b` when both halves are words of the text and the text
    rarely splits a word at a line end (a hyphen there is then a compound's: "well-\\nknown"), else `ab` (a
    typeset text hyphenates words: "hap-\\npened"). A capitalised second half keeps its hyphen ("Anglo-\\nSaxon").
    Dashes at a line end join the next line without a space."""
    splits = len(_LINE_HYPHEN.findall(text))
    typeset = splits > 0.005 * (text.count("\n") + 1)  # more than one line in 200 ends in a split word
    body = _LINE_HYPHEN.sub(" ", text)  # the text without the line-end splits: the evidence
    hyphenated = Counter(m.casefold() for m in re.findall(r"\w+(?:-\w+)+", body))
    joined = Counter(w.casefold() for w in tx.words(body))

    def mend(match: re.Match) -> str:
        a, b = match.group(1), match.group(2)
        with_hyphen, without = hyphenated[f"{a}-{b}".casefold()], joined[(a + b).casefold()]
        if with_hyphen != without:
            keep = with_hyphen > without
        else:
            keep = not typeset and joined[a.casefold()] > 0 and joined[b.casefold()] > 0
        keep = keep or (b[:1].isupper() and not a.isupper()) or a.isdigit()
        return f"{a}-{b}" if keep else a + b

    return _LINE_DASH.sub(r"\1", _LINE_HYPHEN.sub(mend, text))


def _lines(text: str) -> list[_Line]:
    out, blanks = [], 0
    for raw in text.split("\n"):
        if _BLANKISH.match(raw):
            blanks += 1
            continue
        stripped = raw.strip()
        out.append(_Line(re.sub(r"\s+", " ", stripped), len(raw) - len(raw.lstrip(" ")), blanks))
        blanks = 0
    return out


def _is_prose(text: str) -> bool:
    """Running text, not a heading, a name or a contents entry: enough words, mostly in lower case (scripts
    without case: enough words, or a sentence end)."""
    words = tx.words(text)
    cased = [w for w in words if w[:1].isupper() or w[:1].islower()]
    lower = sum(w[:1].islower() for w in cased) / len(cased) if cased else 1.0
    if _SPEECH_START.match(text) and re.search(r"\p{Ll}", text):
        return True
    if len(words) >= 12:
        return lower >= 0.4
    return len(words) >= 4 and bool(_SENTENCE_END.search(text)) and lower >= 0.3 and not text.isupper()


def _is_sentence(text: str) -> bool:
    """A short sentence of the story ("It was late."), not a title in capitals ("THE CASK OF AMONTILLADO.")."""
    return bool(re.search(r"[.!?…]['\"”’»]?$", text)) and bool(re.search(r"\p{Ll}", text)) and not _is_listing(text)


def _is_heading(text: str) -> bool:
    return bool(_CHAPTER.match(text) or _SLUGLINE.match(text))


def _is_caps_title(text: str) -> bool:
    """A short line in capitals (a chapter's subtitle, a heading without a number)."""
    letters = [c for c in text if c.isalpha()]
    cased = [c for c in letters if c.isupper() or c.islower()]  # Devanagari has no capitals: never "in capitals"
    return 1 <= len(tx.words(text)) <= 10 and len(cased) >= 3 and all(not c.islower() for c in cased)


def _is_source(text: str) -> bool:
    """A source, copyright or edition note of front matter ("From 'Collected Tales', Harrow, 1911"), not a
    sentence of the story that names a year ("In the summer of 1942, my grandfather left")."""
    if len(tx.words(text)) > 40:
        return False
    if _IMPRINT.match(text) or "©" in text or re.search(r"\bcopyright\b", text, re.I):
        return True
    if not re.search(r"\p{Ll}", text) and not _YEAR.search(text):  # "HARD TIMES AND REPRINTED PIECES" is a title
        return False
    return bool(_SOURCE.search(text)) or (bool(_YEAR.search(text)) and (not _is_prose(text) or _is_listing(text)))


def _is_listing(text: str) -> bool:
    """Mostly capitalised words and commas: a publisher line or a title, not running text."""
    words = [w for w in tx.words(text) if w[:1].isalpha()]
    return bool(words) and sum(w[:1].isupper() for w in words) >= 0.6 * len(words)


def _looks_like_person(text: str) -> bool:
    """'O. Henry', 'H. G. WELLS', 'Leo Tolstoy': 2-4 capitalised words or initials, no function words."""
    parts = text.replace(".", ". ").split()
    return (
        1 < len(parts) <= 5
        and all(p[:1].isupper() or p.lower() in _PARTICLES - {"the", "and", "of"} for p in parts)
        and not any(p.lower() in {"the", "a", "an", "of", "and", "in", "chapter", "part", "book"} for p in parts)
    )


def _front_matter(paragraphs: list[_Paragraph], doc: Document) -> list[_Paragraph]:
    """Title, author, source lines and a contents table before the first prose: recorded, not narrated. The
    heading right above the first prose (chapter one, with its subtitle) stays."""
    first = next(
        (
            i
            for i, p in enumerate(paragraphs)
            if p.kind in ("cue", "speech")
            or (
                p.kind == "p"
                and (_is_prose(p.text) or _is_sentence(p.text))
                and not (i < 30 and len(p.lines) <= 3 and _is_source(p.text))
                and not all(_PAGE_NUMBER.search(line) or line.strip(" .").casefold() == "page" for line in p.lines)
            )  # a contents entry: "The Storm ..... 12"
        ),
        None,
    )
    if first is None:  # no running text at all (a few short lines): nothing is front matter
        return paragraphs
    start = first
    for j in (first - 1, first - 2):
        if j < 0 or paragraphs[j].kind not in ("h", "p") or len(tx.words(paragraphs[j].text)) > 12:
            break
        if paragraphs[j].kind == "h":
            start = j
            break
    in_contents = False
    names: list[str] = []
    blocks: list[tuple[str, list[str]]] = []  # (kind, lines) of the blank-line separated blocks
    for paragraph in paragraphs[:start]:
        if blocks and paragraph.blanks == 0 and paragraph.kind == blocks[-1][0]:
            blocks[-1][1].extend(paragraph.lines)
        else:
            blocks.append((paragraph.kind, list(paragraph.lines)))
    for kind, lines in blocks:
        source_block = False
        for t in _title_lines(lines):
            by = _BY.match(t)
            if _CONTENTS.match(t):
                in_contents = True
            elif by and not doc.author:
                doc.author = (by.group(1) or by.group(2)).strip(" .,")
            elif t.startswith("#") and not in_contents:
                names.append(t.strip("# "))  # a Markdown title
            elif in_contents or _ORNAMENT.match(t) or _is_heading(t) or kind == "break":
                pass
            elif _is_source(t) or len(tx.words(t)) > 14 or (source_block and not _BY.match(t)):
                doc.sources.append(t)  # a credit wrapped over lines stays one source ("…Maurice" / "Greiffenhagen…")
                source_block = True
            else:
                names.append(t.strip("# "))
            doc.dropped.append(t)
    if names and not doc.title:
        if len(names) > 1 and not doc.author and _looks_like_person(names[0]) and not _looks_like_person(names[1]):
            doc.author, names = names[0], names[1:]
        doc.title = names[0].rstrip(".") if not names[0].endswith("..") else names[0]
        # the author: a name under the title that looks like a person's ("Lewis Carroll"; in a script without
        # capitals, a short line)
        person = next((n for n in names[1:] if _looks_like_person(n) or (not tx.is_latin(n) and len(tx.words(n)) <= 3)), "")
        if person and not doc.author:
            doc.author = person.strip(" ,.")
    return paragraphs[start:]


def _closing_source(text: str) -> bool:
    """A short line at the end naming a date, a year or a source, not a sentence of the story ("21 mars 1881",
    "Harper's Weekly, 1905"; not "It was 1911.")."""
    return len(tx.words(text)) <= 8 and _is_source(text) and not re.search(r"[.!?…।\"”’»]$", text)


def _title_lines(lines: list[str]) -> list[str]:
    """Front-matter lines, with a title set over several lines around a connector ("PRIDE." / "and" /
    "PREJUDICE") joined into one, and a lone "by" joined to the name under it."""
    out: list[str] = []
    for line in lines:
        before = out[-1].lower() if out else ""
        if out and (
            line.lower() in _CONNECTORS
            or line.lower().split()[0] in _CONNECTORS  # "HARD TIMES" / "AND REPRINTED PIECES"
            or before in _CONNECTORS | _BY_WORDS
            or before.endswith(tuple(f" {c}" for c in _CONNECTORS))
        ):
            out[-1] = f"{out[-1].rstrip('.')} {line}"
        else:
            out.append(line)
    return out


_CONNECTORS = {"and", "or", "&", "of", "the", "et", "und", "y", "और", "या"}
_BY_WORDS = {"by", "par", "von", "por", "written by"}


def _back_matter(paragraphs: list[_Paragraph], doc: Document) -> list[_Paragraph]:
    """ "THE END" (past the middle) and what follows it, or closing notes in the last fifth: dropped."""
    cut = len(paragraphs)
    for i, p in enumerate(paragraphs):
        if (_THE_END.match(p.text) and i > 0.5 * len(paragraphs)) or (i > 0.8 * len(paragraphs) and _CLOSING_NOTES.match(p.text)):
            cut = i
            break
    while cut > 1 and _closing_source(paragraphs[cut - 1].text):
        cut -= 1  # a closing date or source line ("21 mars 1881", "Harper's, 1905")
        doc.sources.append(paragraphs[cut].text)
    doc.dropped += [p.text for p in paragraphs[cut:]]
    return paragraphs[:cut]


def _paragraphs(lines: list[_Line]) -> list[_Paragraph]:
    """The text's paragraphs, headings, breaks and cues. In a hard-wrapped text, lines join into a paragraph
    until a blank line, an indented line under a flush or short one, or a short line that ends a sentence; in a
    text that is not wrapped (a paragraph per line, as from a web page or a word processor), every line is one."""
    if not lines:
        return []
    lengths = sorted(len(line.text) + line.indent for line in lines)
    width = lengths[int(len(lengths) * 0.9)] if lengths else 80
    # a text with a paragraph per line ends (nearly) every line with a sentence and starts the next with a capital
    # or a quote; a hard-wrapped one breaks lines mid-sentence
    joins = [(a.text, b.text) for a, b in itertools.pairwise(lines) if b.blanks == 0]
    ends = sum(bool(_SENTENCE_END.search(a) and re.match(r"[\p{Lu}\"“‘'«„—–]", b)) for a, b in joins)
    wrapped = not (len(joins) >= 2 and ends >= 0.8 * len(joins))
    long = [line.indent for line in lines if len(line.text) + line.indent >= 0.6 * width] or [0]
    flush = min(long)  # where wrapped lines start
    cues = [
        m.group(1).strip()
        for line, after in itertools.pairwise(lines)
        if (m := _CUE.match(line.text)) and not _is_heading(line.text) and after.blanks == 0 and len(tx.words(m.group(1))) <= 3
    ]
    recurring = {k for k, v in Counter(cues).items() if v >= 2}
    # a play: two or more names over speech, again and again (not a "PAGE" column over a contents table)
    cue_names = set(cues) if len(recurring) >= 2 and sum(c in recurring for c in cues) >= 4 else set()
    inline = Counter(m.group(1) for line in lines if (m := _INLINE_CUE.match(line.text)))
    inline_names = {k for k, v in inline.items() if not _CHAPTER.match(k + ".")}
    if sum(inline[k] for k in inline_names if inline[k] >= 2) < 4:  # not a play: a capitalised word and a full stop
        inline_names = set()
    caps = sum(
        1
        for n, line in enumerate(lines)
        if line.blanks and (n + 1 == len(lines) or lines[n + 1].blanks) and _is_caps_title(line.text)
    )
    out: list[_Paragraph] = []
    previous: _Line | None = None
    alone = [n + 1 == len(lines) or lines[n + 1].blanks > 0 for n in range(len(lines))]
    for n, line in enumerate(lines):
        t = line.text
        kind = "p"
        if (_ORNAMENT.match(t) and not re.search(r"[\"“”'’«»]", t)) or _SCREEN_TRANSITION.match(t):
            kind = "break"
        elif _is_heading(t) and (previous is None or line.blanks > 0 or alone[n] or out[-1].kind in ("h", "break")):
            kind = "h"  # a heading stands apart; "part of the house" inside a wrapped paragraph is prose
        elif (
            (m := _CUE.match(t)) and m.group(1).strip() in cue_names and not (line.blanks == 0 and out and out[-1].kind == "cue")
        ):
            kind = "cue"
        elif (
            caps >= 2
            and line.blanks
            and alone[n]
            and _is_caps_title(t)
            and len(tx.words(t)) <= 8
            and not re.search(r"[.,;:!?…]$", t)
        ):
            kind = "h"  # lines in capitals standing alone, more than once: headings
        starts = (
            previous is None
            or line.blanks > 0
            or not wrapped
            or kind != "p"
            or bool(_DIALOGUE_DASH.match(t))  # "— Non, dit-il.": each turn its own line
            or out[-1].kind not in ("p", "speech")
            or (line.indent > flush and (previous.indent <= flush or len(previous.text) + previous.indent < 0.8 * width))
            or (line.indent > flush and previous.indent > flush and line.indent != previous.indent)
            or (len(previous.text) + previous.indent < 0.7 * width and bool(_SENTENCE_END.search(previous.text)))
            or ((m := _INLINE_CUE.match(t)) is not None and m.group(1) in inline_names)
        )
        if kind == "p" and out and out[-1].kind in ("cue", "speech") and line.blanks == 0:  # a cue's lines
            starts, kind = out[-1].kind == "cue", "speech"
        if starts:
            out.append(_Paragraph(kind, line.blanks, t, [t]))
        else:
            out[-1].text += " " + t
            out[-1].lines.append(t)
        previous = line
    result = []
    for p in out:
        m = _INLINE_CUE.match(p.text)
        if p.kind == "p" and m and m.group(1) in inline_names:
            result += [_Paragraph("cue", p.blanks, m.group(1), [m.group(1)]), _Paragraph("speech", 0, p.text[m.end() :], p.lines)]
        else:
            result.append(p)
    return result


def _sections(paragraphs: list[_Paragraph], doc: Document) -> list[tuple[str, list[str]]]:
    gaps = Counter(p.blanks for p in paragraphs[1:] if p.kind == "p")
    usual, times = gaps.most_common(1)[0] if gaps else (1, 0)
    if times < 8 or times < 0.6 * sum(gaps.values()):  # paragraphs are not regularly spaced wider than one line
        usual = 1
    sections: list[tuple[str, list[str]]] = [("", [])]
    speaker, previous = "", ""
    said: list[tuple[str, str, str]] = []  # a play's (paragraph before, speech, speaker)
    for kind, blanks, t in ((p.kind, p.blanks, p.text) for p in paragraphs):
        if kind == "h":
            title = t.lstrip("#").strip()
            open_heading = sections[-1][0] and not sections[-1][1] and not _SLUGLINE.match(sections[-1][0])
            if open_heading and not _CHAPTER.match(title) and not _SLUGLINE.match(title):
                sections[-1] = (f"{sections[-1][0].rstrip()} {title}", [])  # CHAPTER II. + its subtitle
            else:
                sections.append((title, []))
            continue
        if kind == "break" or (blanks >= max(2, usual + 1) and sections[-1][1]):
            sections.append(("", []))
            if kind == "break":
                continue
        if kind == "cue":
            speaker = _CUE.match(t).group(1).strip() if _CUE.match(t) else t
            continue
        if kind == "p" and sections[-1][0] and not sections[-1][1] and _BARE_CHAPTER.match(sections[-1][0]):
            if not _is_prose(t) and len(tx.words(t)) <= 10 and not _SPEECH_START.match(t) and not re.search(r"[.!?…।]$", t):
                sections[-1] = (f"{sections[-1][0].rstrip()} {t}", [])  # a subtitle in mixed case
                continue
        if kind == "speech" and speaker:
            said.append((previous, t, speaker.title()))
        sections[-1][1].append(t)
        previous = t
    # a speech is found again by its text, or, where a play says the same words twice ("Yes."), by its text and
    # the paragraph before it
    repeated = {t for t, n in Counter(t for _, t, _ in said).items() if n > 1}
    doc.cues = {(cue_key(before, t) if t in repeated else t): who for before, t, who in said}
    return [(h, ps) for h, ps in sections if ps]


def cue_key(before: str, speech: str) -> str:
    """The key of a play's speech that occurs more than once: the end of the paragraph before it, and the speech."""
    return f"{before[-60:]}\x1f{speech}"


def _untitled_first_line(doc: Document) -> str:
    """No front matter, but a short first paragraph without a sentence end under no heading: the title."""
    heading, paragraphs = doc.sections[0]
    first = paragraphs[0]
    titled = _is_listing(first) or not tx.is_latin(first)  # "The Red Kite", not "It all started with a knock"
    if (
        len(paragraphs) > 1
        and titled
        and len(tx.words(first)) <= 12
        and not _SPEECH_START.match(first)
        and not re.search(r"[.!?।,;:\"”’»…—–)]$", first)
    ):
        doc.sections[0] = (heading, paragraphs[1:])
        doc.dropped.append(first)
        return first.strip("# ")
    return ""
