"""Quoted speech and who says it.

`spans(paragraph, single)` cuts a paragraph into narration and speech: typographic and straight double
quotes, guillemets (« » and » «), „ “, single quotes in the British convention (‘…’, '…', `…') when the text
uses them for dialogue (`single_quotes`), and dash-led lines (— Oui, dit-il.). A short quotation without a
sentence inside it (a title, a scare-quoted word) is not speech.

`attribute(paragraphs, cast, cues)` says who speaks each quotation of a scene and why:
- `cue`: a play's or screenplay's cue over the speech;
- `tag`: a speech verb with a name beside the quote, on either side ("…," said Alice / Alice said: "…"),
  or with a pronoun, resolved to the last character of that gender mentioned (he/she, from the text);
- `beat`: the one character the paragraph's narration names ("Tom looked up. “Who’s there?”");
- `alternation`: an untagged line in an exchange goes to the other speaker of the exchange;
- `unknown`: none of these (the narrator's voice reads it as dialogue with no one's name).
A quotation left open at a paragraph's end continues in the next paragraph, in the same voice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import regex as re

from storyforge import text as tx
from storyforge.reading.structure import cue_key

_VERBS = (
    # English
    r"said|says|say|asked|asks|replied|replies|answered|cried|exclaimed|whispered|shouted|muttered|murmured|called|"
    r"continued|added|began|remarked|observed|returned|repeated|screamed|yelled|roared|sighed|laughed|insisted|"
    r"demanded|inquired|enquired|protested|suggested|declared|retorted|growled|snapped|pleaded|begged|explained|"
    r"interrupted|agreed|grumbled|sobbed|cried out|went on|told|thought|stammered|gasped|urged|answered|responded|"
    r"admitted|announced|commanded|ordered|warned|wondered|mused|snarled|hissed|shrieked|panted|chuckled|smiled|"
    r"nodded|concluded|persisted|resumed|echoed|groaned|moaned|piped|squeaked|bellowed|sang|"
    # French, German, Spanish
    r"dit|demanda|répondit|répliqua|reprit|s'écria|s’écria|murmura|cria|ajouta|fit|continua|poursuivit|"
    r"interrompit|observa|déclara|souffla|balbutia|articula|affirma|riposta|s'exclama|s’exclama|interrogea|lança|"
    r"grogna|soupira|expliqua|objecta|conclut|insista|protesta|approuva|opina|gémit|hurla|bégaya|prononça|"
    r"sagte|fragte|rief|antwortete|flüsterte|erwiderte|meinte|"
    r"dijo|preguntó|respondió|contestó|gritó|exclamó|murmuró|añadió|replicó|"
    # Hindi (after the speaker: "कबीर ने कहा", "गौरी बोली")
    r"कहा|बोला|बोली|बोले|पूछा|पूछी|चिल्लाया|चिल्लाई|कहने|बोलीं|पुकारा|जवाब"
)
_VERB = re.compile(rf"(?<!\w)(?:{_VERBS})(?!\w)", re.I)
_SUBJECT = r"(?:\p{Lu}[\w.'’-]*|he|she|they|I|we|il|elle|er|sie|él|ella)"
_TAG_AFTER = re.compile(  # a speech tag right after a quotation: "said Tom", "Tom said", "she whispered"
    rf"(?:(?:{_VERBS})\s+(?:the\s+)?{_SUBJECT}|{_SUBJECT}\s+(?:\w+ly\s+)?(?:{_VERBS}))(?!\w)"
)
_FIRST = {"I", "je", "j'", "j’", "ich", "yo", "मैंने", "मैं"}
_DETERMINER = r"(?:the|his|her|their|my|our|a|an|la|le|les|sa|son|ses|l'|l’|un|une|der|die|das|el|los|las|su)"
_FUNCTION = (  # words that end a description of the speaker: "said his lady | to him", "a smile | and say"
    r"(?:and|or|but|to|him|her|them|me|us|it|of|in|at|on|with|for|from|by|as|one|then|that|who|which|à|de|en|et|"
    r"lui|leur|avec|und|mit|zu|y|con|a)"
)
_NOUN = rf"(?!{_FUNCTION}\b)\p{{L}}+"
_DESCRIBED_AFTER = re.compile(  # "said the old man", "returned the King", "répondit la pauvre femme", "said Madame"
    rf"^\s*({_DETERMINER}\s+(?:{_NOUN}\s+){{0,2}}{_NOUN}|Madame|Monsieur|Madam|Sir|Mademoiselle|Señora?|Herr|Frau)\b(?!\s+\p{{Lu}})"
)
_DESCRIBED_BEFORE = re.compile(  # "the old man said", at the start of its clause
    rf"(?:^|[,;:]\s*)((?i:{_DETERMINER})\s+(?:{_NOUN}\s+){{0,2}}{_NOUN})\s+(?:\w+ly\s+)?$"
)
_TAG_BEFORE = re.compile(rf"(?<!\w)(?:{_VERBS})\s*[—–:,]\s*$", re.I)  # "Tom said: “Go.”", "लाडली ने पूछा—‘…’"
_MALE_TITLES = set(
    "Mr Sir Lord King Prince Count Duke Baron Father Brother Uncle Master Monsieur M Herr Señor Don Captain".split()
)
_FEMALE_TITLES = set(
    "Mrs Miss Ms Lady Queen Princess Countess Duchess Mother Sister Aunt Madame Mme Mlle Mademoiselle Frau Señora Doña".split()
)
_HE = re.compile(r"(?<!\w)(?:he|him|his|himself|il|lui|er|ihm|sein|él)(?!\w)", re.I)
_SHE = re.compile(r"(?<!\w)(?:she|her|hers|herself|elle|sie|ihr|ella)(?!\w)", re.I)
_PRONOUN_TAG = re.compile(r"(?<!\w)((?i:he|she|il|elle|er|sie|él|ella|je|j'|j’|ich|yo)|I|उसने|वह|वो|मैंने|मैं)(?!\w)")
_INCISE = re.compile(  # an incise inside the quotation: «Voilà, lui dit-il, les clefs», « Quoi ? demanda M. Rade. »
    rf"^.{{1,80}}?[,?!]\s*((?:lui |leur |me |nous |vous )?(?i:{_VERBS})(?:-t)?-(?:il|elle|ils|elles)\b"
    rf"|(?i:{_VERBS})\s+(?:\p{{Ll}}+\s+){{0,2}}\p{{Lu}}[\w.-]*(?:\s+\p{{Lu}}[\w-]*)*)",
)
_DASH_LINE = re.compile(r"^\s*(?:—|–|―|- )\s*")
_TURN = re.compile(r"(?<=[.!?…»\"”])\s+(?=[—–―]\s)")  # "… l'heure. — Puisqu'il faut mourir, répondit-elle"
_COLON_SPEECH = re.compile(rf"^(.*\b(?i:{_VERBS})\b[^:«»\"“”]{{0,40}}:)\s*(\p{{Lu}}.*)$")  # "dit à sa femme: Pourquoi"
_DOUBLE = {"“": "”", "„": "“”", "«": "»", "‹": "›", "「": "」", "『": "』", '"': '"'}
_SINGLE_OPEN = re.compile(r"(?:^|(?<=[\s(\[—–-]))[‘'`](?=[\w¿¡])")
_SINGLE_CLOSE = re.compile(r"(?<=\S)[’'](?=[\s,.;:!?)\]—–-]|$)")
_CLOSING_PUNCT = ".,!?…—–-;:।॥。！？"
_PUNCT_CLOSE = re.compile(r"[.,!?…।][’']")  # "…,' said": a closing single quote, not the elision in 'em or '90s


@dataclass
class Line:
    """A stretch of a paragraph in one voice."""

    text: str
    quoted: bool
    speaker: str = ""
    reason: str = ""


def single_quotes(text: str) -> bool:
    """Whether the text quotes its dialogue with single quotes (British convention) rather than double."""
    double = sum(text.count(c) for c in "“„«") + text.count('"') // 2
    single = len(_SINGLE_OPEN.findall(text))
    return single >= 3 and single > 2 * double


def spans(paragraph: str, single: bool = False) -> list[Line]:
    """The paragraph as narration and speech, in order. Quotation marks stay with their speech."""
    if _DASH_LINE.match(paragraph) and not re.match(r"^\s*[—–―-]\s*[\"“«‘']", paragraph):
        return [Line(paragraph.strip(), True)]  # dash-led dialogue: the line is speech (its incise included)
    out: list[Line] = []
    pos = i = 0
    n = len(paragraph)
    pairs = dict(_DOUBLE)
    if "»" in paragraph and "«" in paragraph and paragraph.index("»") < paragraph.index("«"):
        pairs = {k: v for k, v in _DOUBLE.items() if k != "«"} | {"»": "«"}  # German: »Komm her«, sagte Hans.
    while i < n:
        c = paragraph[i]
        end = -1
        inch = c == '"' and i and paragraph[i - 1].isdigit() and "'" in paragraph[max(0, i - 4) : i]  # 5'10"
        if (
            c in pairs
            and not inch
            and not (c == '"' and i and paragraph[i - 1].isalnum() and i + 1 < n and paragraph[i + 1].isalnum())
        ):
            closers = pairs[c]
            end = next((j for j in range(i + 1, n) if paragraph[j] in closers), n - 1)
        elif single and c in "‘'`" and _SINGLE_OPEN.match(paragraph, i):
            end = _single_close(paragraph, i + 1)
        if end < 0:
            i += 1
            continue
        if before := paragraph[pos:i].strip():
            out.append(Line(before, False))
        quote = paragraph[i : end + 1].strip()
        speech = _is_speech(quote, at_start=not paragraph[:i].strip(), after=paragraph[end + 1 :], before=paragraph[:i])
        out.append(Line(quote, speech))
        pos = i = end + 1
    if rest := paragraph[pos:].strip():
        out.append(Line(rest, False))
    merged: list[Line] = []  # narration and non-speech quotations ("Robinson Crusoe") read as one
    for line in out:
        if merged and not line.quoted and not merged[-1].quoted:
            merged[-1].text = f"{merged[-1].text} {line.text}"
        else:
            merged.append(line)
    return merged


def sentence_units(paragraph: str, single: bool | None = None) -> list[tuple[str, bool]]:
    """The paragraph's sentences, each with whether a quotation is still open after it (a shot or scene break
    there would cut a character's speech in two). `single`: the text quotes with single quotes (None: guess
    from the paragraph)."""
    if single is None:
        single = single_quotes(paragraph) or (len(_SINGLE_OPEN.findall(paragraph)) >= 1 and not re.search('["“«„]', paragraph))
    ranges, pos = [], 0
    for line in spans(paragraph, single):
        start = paragraph.find(line.text, pos)
        pos = start + len(line.text) if start >= 0 else pos
        if line.quoted and start >= 0 and not _DASH_LINE.match(line.text):
            ranges.append((start, pos))
    out, pos = [], 0
    for sentence in tx.sentences(paragraph):
        start = paragraph.find(sentence, pos)
        pos = start + len(sentence) if start >= 0 else pos
        out.append((sentence, any(a < pos < b - 1 for a, b in ranges)))
    return out


def _single_close(text: str, start: int) -> int:
    """The closing single quote: the first one after punctuation ("…,' said"), else the first that ends a
    word before a space or punctuation; the end of the paragraph if the quotation stays open."""
    candidates = [m.start() for m in _SINGLE_CLOSE.finditer(text, start)]
    punctuated = [j for j in candidates if text[j - 1] in _CLOSING_PUNCT or text[j - 1] in "!?"]
    if punctuated:
        plain = [j for j in candidates if j < punctuated[0] and not _possessive(text, j)]
        # "a ‘pleasant’ time. ‘Really?’": a closing quote followed by more text and a new opening quote ends here
        if plain and (len(tx.words(text[start : plain[0]])) > 6 or _SINGLE_OPEN.search(text, plain[0] + 1, punctuated[0])):
            return plain[0]
        return punctuated[0]
    plain = [j for j in candidates if not _possessive(text, j)]
    return plain[0] if plain else len(text) - 1


def _possessive(text: str, j: int) -> bool:
    """`boys' hats`: an apostrophe after a plural s, followed by a lower-case word."""
    return text[j - 1] in "sz" and bool(re.match(r"[’'] \p{Ll}", text[j : j + 3]))


def _is_speech(quote: str, at_start: bool, after: str, before: str = "") -> bool:
    """A quotation is speech when it opens the paragraph, is longer than four words, has a speech tag beside
    it, or starts a sentence with punctuation of its own; a short one inside a sentence is a title ("Robinson
    Crusoe"), a scare-quoted term or a quoted word (a “g,”), read by the narrator."""
    inner = quote.strip("\"“”„«»‹›‘’'`「」『』 ")
    if not inner:
        return False
    if at_start or len(tx.words(inner)) > 4:
        return True
    if _TAG_AFTER.match(after.lstrip(" ,")) or _TAG_BEFORE.search(before):
        return True
    # a short quotation with its own punctuation, where a sentence starts: “Yes!” (not a “g,” or that ‘No, sir!’ was)
    return inner[-1] in _CLOSING_PUNCT and bool(re.search(r"(?:^|[.!?…।:;—–]['\"”’»]?)\s*$", before))


def genders(text: str, names: list[str], aliases: dict[str, list[str]] | None = None) -> dict[str, str]:
    """'m' or 'f' per name, from the pronouns that follow it (or its aliases) in the text (he/his vs she/her),
    where clear."""
    out = {}
    for name in names:
        title = name.split()[0].rstrip(".") if " " in name else ""
        if title in _MALE_TITLES or title in _FEMALE_TITLES:  # "Madame Loisel", "Mr. Bennet"
            out[name] = "m" if title in _MALE_TITLES else "f"
            continue
        he = she = 0
        for m in (m for form in [name, *(aliases or {}).get(name, [])] for m in tx.mention(form).finditer(text)):
            window = text[m.end() : m.end() + 80]
            window = re.split(r"[.!?।\"“”]", window)[0]
            he += len(_HE.findall(window))
            she += len(_SHE.findall(window))
        if he != she:
            out[name] = "m" if he > she else "f"
    return out


def attribute(
    paragraphs: list[str], cast: dict[str, str], cues: dict[str, str] | None = None, leads: dict[str, str] | None = None
) -> list[list[Line]]:
    """Each paragraph's lines with the speaker of every quotation (a canonical name from `cast`, which maps
    every name and alias to it) and the reason. Paragraphs are one scene's, in order. `leads`: the cast, most
    prominent first, with genders ('m', 'f', ''), for pronoun tags when no one of that gender was just named; its
    key "I", when present, names the first-person narrator ("I said")."""
    joined = "\n".join(paragraphs)
    single = single_quotes(joined) or (
        not re.search('["“«„]', joined) and bool(_SINGLE_OPEN.search(joined)) and bool(_PUNCT_CLOSE.search(joined))
    )
    reader = _Reader(cast, leads or {}, single)
    out = []
    before = ""
    for paragraph in paragraphs:
        cue = (cues or {}).get(paragraph) or (cues or {}).get(cue_key(before, paragraph))
        before = paragraph
        if cue:
            who = cast.get(cue, cue)
            reader.recent = _push(reader.recent, who)
            out.append([Line(paragraph, True, who, "cue")])
            continue
        out.append([line for turn in _turns(paragraph) for line in reader.read(turn)])  # an exchange, turn by turn
    return out


def _turns(paragraph: str) -> list[str]:
    """A paragraph holding several speakers' turns, each after a dash ("… l'heure. — Puisqu'il faut mourir,
    répondit-elle"), as one paragraph per turn; any other paragraph as it is."""
    parts = _TURN.split(paragraph)
    speechy = _DASH_LINE.match(paragraph) or "«" in paragraph or _COLON_SPEECH.match(parts[0])
    return parts if len(parts) > 1 and speechy else [paragraph]


class _Reader:
    """Reads a scene's paragraphs in order, remembering the exchange: who spoke last, who was spoken to, who
    was named in the narration."""

    def __init__(self, cast: dict[str, str], leads: dict[str, str], single: bool) -> None:
        self.narrator = leads.get("I", "")
        self.cast, self.leads, self.single = cast, {k: v for k, v in leads.items() if k != "I"}, single
        self.names = sorted(cast, key=len, reverse=True)  # "Mary Jane" before "Mary"
        self.gender = {n: g for n, g in self.leads.items() if g}
        self.recent: list[str] = []  # speakers of the exchange, most recent last
        self.mentioned: list[str] = []  # characters named in narration, most recent last
        self.open_speaker: tuple[str, str] | None = None  # a quotation left open continues in this voice
        self.spoken_to: str | None = None  # whom the last line spoke to by name
        self.lead_in = ""  # a paragraph ending "he said:" just before

    def read(self, paragraph: str) -> list[Line]:
        names, cast = self.names, self.cast
        lines = spans(paragraph, self.single)
        if not any(line.quoted for line in lines) and (colon := _COLON_SPEECH.match(paragraph)):
            lines = [Line(colon.group(1), False), Line(colon.group(2), True)]  # "dit à sa femme: Pourquoi …"
        speech = [line for line in lines if line.quoted]
        narration = " ".join(line.text for line in lines if not line.quoted)
        named = _named(narration, names, cast)
        if not speech:
            self.mentioned = (self.mentioned + named)[-6:]
            self.open_speaker = None  # whoever was spoken to still answers after a line of narration
            # "But he said:" ending a paragraph tags the speech that opens the next one
            self.lead_in = paragraph if re.search(r"[:—–]\s*$", paragraph) else ""
            return lines
        called = [n for line in speech for n in _vocatives(line.text, names, cast)]  # "…, Jim?": Jim is spoken to
        speaker, reason = "", ""
        for k, line in enumerate(lines):  # a tag beside any of the paragraph's quotations names its speaker
            if not line.quoted:
                continue
            after = lines[k + 1].text if k + 1 < len(lines) and not lines[k + 1].quoted else ""
            before = lines[k - 1].text if k and not lines[k - 1].quoted else ("" if k else self.lead_in)
            said = line.text  # what is said, without an incise inside it
            if _DASH_LINE.match(line.text):
                after, said = line.text, ""  # the incise is inside the dash line: "— Oui, dit Pierre."
            elif incise := _INCISE.search(line.text):
                after, said = incise.group(1), line.text.replace(incise.group(1), " ")  # «Voilà, lui dit-il, les clefs»
            addressed = _named(said, names, cast)
            known = self.mentioned + named
            found = _tag(after, before, names, cast, self.gender, known, addressed, list(self.leads), self.narrator)
            if found:
                speaker, reason = found, "tag"
                line.speaker, line.reason = found, "tag"
        if not speaker and self.open_speaker:
            speaker, reason = self.open_speaker
        if not speaker:
            speaker, reason = self._untagged(speech, named)
        for line in speech:
            if not line.reason:
                line.speaker, line.reason = speaker, reason
        last_speaker = speech[-1].speaker or speaker
        if called and last_speaker:
            self.recent = _push(self.recent, called[0])
        if speaker:
            self.recent = _push(self.recent, last_speaker)
        self.spoken_to = called[0] if called and called[0] != last_speaker else None
        self.lead_in = ""
        self.mentioned = (self.mentioned + named)[-6:]
        last = speech[-1]
        closed = last.text[-1:] in "”\"»’'›」』" and len(last.text) > 1
        self.open_speaker = (last.speaker, last.reason) if not closed and last is lines[-1] and last.speaker else None
        return lines

    def _untagged(self, speech: list[Line], named: list[str]) -> tuple[str, str]:
        """No tag: the one character the narration names (a beat), else the one just spoken to, else the other
        speaker of the exchange, else someone else just named; unknown when nothing says."""
        recent, mentioned = self.recent, self.mentioned
        addressed = {n for line in speech for n in _named(line.text, self.names, self.cast)}
        beat = [n for n in dict.fromkeys(named) if n not in addressed]
        if len(beat) == 1:
            return beat[0], "beat"
        if self.spoken_to and self.spoken_to not in addressed and (not recent or self.spoken_to != recent[-1]):
            return self.spoken_to, "alternation"  # the one just spoken to answers
        if len(recent) >= 2 and recent[-1] not in addressed:
            return recent[-2], "alternation"
        if recent and recent[-1] in addressed:  # "…, Jim?" is not said by Jim: the other one of the exchange
            other = [n for n in (*reversed(recent), *reversed(mentioned), *self.leads) if n not in addressed]
            return (other[0], "alternation") if other else ("", "unknown")
        if recent:
            others = [n for n in dict.fromkeys(reversed(mentioned)) if n != recent[-1] and n not in addressed]
            return (others[0], "alternation") if others else ("", "unknown")
        return "", "unknown"


def _vocatives(quote: str, names: list[str], cast: dict[str, str]) -> list[str]:
    """Names a quotation speaks to: at its start or after a comma or "dear", before a comma, ! ? or its end
    ("My dear Mr. Bennet, …", "…, Lizzy."), canonical."""
    return list(dict.fromkeys(cast[name] for name in names if _vocative(name).search(quote)))


@functools.lru_cache(maxsize=8192)
def _vocative(name: str) -> re.Pattern:
    n = re.escape(name)
    flags = re.I if not tx.is_latin(name) else 0
    return re.compile(
        rf"(?:^[\"“‘'«„`]?\s*|[,;!?]\s+|\b(?:dear|my|oh|o)\s+){n}(?=\s*(?:[,!?;]|\.\s*[\"”’'»]?$|[\"”’'»]|$))", flags
    )


@functools.lru_cache(maxsize=8192)
def _agent(name: str) -> re.Pattern:
    """ "रूपा ने": the name as the agent of a Hindi verb."""
    return re.compile(rf"{re.escape(name)}\s+ने(?!\w)")


@functools.lru_cache(maxsize=8192)
def _as_object(name: str) -> re.Pattern:
    """ "काकी पर", "काकी से": the name before a postposition, not a subject."""
    return re.compile(rf"{re.escape(name)}\s+(?:से|पर|का|की|के|में)(?!\w)")  # not को: "रूपा को क्रोध आया", a subject


def _push(recent: list[str], speaker: str) -> list[str]:
    if not speaker:
        return recent
    return ([s for s in recent if s != speaker] + [speaker])[-2:]


def _named(text: str, names: list[str], cast: dict[str, str]) -> list[str]:
    """Canonical names mentioned in the text, in order of first mention."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for name in names:
        for m in tx.mention(name).finditer(text):
            if not any(a <= m.start() < b for a, b in taken):
                found.append((m.start(), cast[name]))
                taken.append((m.start(), m.end()))
    return list(dict.fromkeys(n for _, n in sorted(found)))


def _tag(after: str, before: str, names, cast, gender, mentioned, addressed, leads, narrator: str = "") -> str:
    """The speaker a speech tag names: a verb and a name (or pronoun) just after the quotation (first clause),
    else just before it (last clause)."""
    head = (tx.sentences(after) or [""])[0]
    head = " ".join(re.split(r"[;:]", head, maxsplit=1)[0].split()[: 20 if _DASH_LINE.match(after) else 10])
    tail = re.split(r"[.!?।;\"“”]", before)[-1] if before else ""
    tail = " ".join(tail.split()[-12:])
    cue = re.search(r"(\S+(?:\s\S+)?)\s*[–—:]\s*$", before) if before else None
    if cue and (who := _named(cue.group(1), names, cast)):  # "शंकर – “…”", "Tom: “…”"
        return who[-1]
    for window in (head, tail):
        verb = _VERB.search(window) if window else None
        if not verb:
            continue
        # the subject next to the verb: "said Tom", "Tom said", "she announced", "said she", "Tom quietly said"
        before_verb = window[: verb.start()].split()[-2:]
        after_verb = window[verb.end() :].split()[:2]
        near = [w for w in (before_verb[-1:] + after_verb[:1] + before_verb[:1]) if w]
        for word in near:
            word = word.strip(",.;:!?\"“”‘’'«»()").lstrip("-").removeprefix("t-")  # "dit-elle", "reprit-il"
            if _PRONOUN_TAG.fullmatch(word):
                later = _named(window[verb.start() :], names, cast)  # "she announced … the chair Marilla placed"
                unnamed = [m for m in mentioned if m not in later]
                return _resolve(word if word == "I" else word.lower(), gender, unnamed, addressed, leads, narrator)
        # not the one spoken to, nor one the window marks as an object ("काकी पर झपटी", "काकी से कहा")
        who = [n for n in _named(window, names, cast) if n not in addressed and not _object(window, n, names, cast)]
        agents = [n for n in who if any(_agent(f).search(window) for f in names if cast[f] == n)]
        if agents:  # "रूपा ने काकी से कहा": the agent before ने speaks
            return agents[0]
        if who:  # the name nearest the verb speaks ("said Tom to Mary")
            return min(who, key=lambda n: abs(_first_index(window, n, names, cast) - verb.start()))
        described = _DESCRIBED_AFTER.match(window[verb.end() :]) or _DESCRIBED_BEFORE.search(window[: verb.start()])
        if described:  # "said the old man", "répondit la pauvre femme": someone the cast does not name
            return _spouse(described.group(1), cast, gender, mentioned) or described.group(1)
    return ""


def _spouse(description: str, cast: dict[str, str], gender: dict[str, str], mentioned: list[str]) -> str:
    """ "his wife" / "his lady" after Mr. Bennet was named: Mrs. Bennet, when the cast has her; "her husband"
    after Madame Loisel: Monsieur (M.) Loisel or Loisel."""
    m = re.fullmatch(r"(his|her)\s+(wife|lady|husband)", description.strip(), re.I)
    if not m:
        return ""
    want = "m" if m.group(1).lower() == "his" else "f"
    titles = ("Mrs.", "Mrs", "Madame", "Mme", "Lady", "Frau") if want == "m" else ("Mr.", "Mr", "Monsieur", "M.", "Herr", "Sir")
    spouses = [c for c in dict.fromkeys(cast.values()) if " " in c and c.split()[0] in titles]
    partner = next((n for n in reversed(mentioned) if gender.get(n) == want and " " in n), "")
    found = [c for c in spouses if partner and c.split()[-1] == partner.split()[-1]]
    if not found and not partner:  # no one just named: the story's one married couple, if it has one
        couples = [c for c in spouses if any(o != c and o.split()[-1] == c.split()[-1] for o in cast.values())]
        found = couples if len(couples) == 1 else []
    return found[0] if found else ""


def _object(window: str, canonical: str, names: list[str], cast: dict[str, str]) -> bool:
    """In Devanagari, a name followed by a postposition (से, पर, का, की, के, में) is not the subject."""
    return any(_as_object(f).search(window) for f in names if cast[f] == canonical and not tx.is_latin(f))


def _first_index(window: str, canonical: str, names, cast) -> int:
    return min((m.start() for n in names if cast[n] == canonical for m in tx.mention(n).finditer(window)), default=10**6)


def _resolve(
    pronoun: str, gender: dict[str, str], mentioned: list[str], addressed: list[str], leads: list[str], narrator: str = ""
) -> str:
    """The character a pronoun tag means: the last one of that gender named (not the one spoken to), else the
    most prominent one of that gender."""
    if pronoun in _FIRST:
        return narrator  # "I said": the first-person narrator, when the story has a known one
    want = {"he": "m", "il": "m", "er": "m", "él": "m", "she": "f", "elle": "f", "sie": "f", "ella": "f"}.get(pronoun)
    recent = [n for n in reversed(mentioned) if n not in addressed]
    for fits in ((want,), (None,)) if want else ((None, "m", "f"),):  # "she" is never a man the text calls "he"
        found = next((n for n in recent if gender.get(n) in fits), None)
        if found:
            return found
    return next((n for n in leads if n not in addressed and want and gender.get(n) == want), "")
