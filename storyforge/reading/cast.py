"""Who the story is about, from the text alone: characters and places.

Names are capitalised runs of words that recur inside sentences ("Della Dillingham Young", "Mr. Hale"); a
name's short forms ("Della", "Young") are merged into the longest form they belong to, and every occurrence
counts once the name is known, also at a sentence's start or beside a quotation mark. Matches are whole
words: "Tom" is not in "Tom-tit". A name the text calls a thing ("the lamp called Sofronie", "Sofronie, the
old lamp", "the Pequod") is not a person unless someone says something in a speech tag with it. Plays give
their cast in their cues. In scripts without capitals (Devanagari) a name is an agent before "ने" or before a
speech verb, with any honorific in front of it ("पंडित अलोपीदीन").
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

import regex as re

from storyforge import text as tx
from storyforge.reading.dialogue import _VERBS

_NOT_NAMES = set(
    "A An The And But Or So Then When While If As At In On Of To For From With Without By Into Onto Over Under "
    "He She It They We You I Me My Your His Her Its Our Their Them Us This That These Those There Here What Who "
    "Why How Where Which Yes No Not Oh Ah Well Now One Two Three Every Each All Some Nobody Everyone Someone "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July August "
    "September October November December God Chapter Part INT EXT Just After Before Only Even Still Soon Later "
    "Maybe Perhaps Once Long Behind Beyond Inside Outside Above Below Around Through Across Along Up Down Out Off "
    "Back Again Never Ever Do Don't Did Let Come Go Look See Why Whose Whom Yet Nor Thus Hence Because Though "
    "Although Unless Until Till Since Whatever Whoever Good Dear Poor Mamma Papa Mummy Daddy Mum Dad Hallo Hello "
    "Thank Thanks Please Sorry Ha Ho Hi Hey Alas Indeed Nothing Something Everything Anything Such Many Much More "
    "Most Few Both Either Neither Another Other Own Same Very Too Also Besides However Therefore Meanwhile Next "
    "Last First Second Third Upon Within Whether Half Mine Yours Ours Theirs Sir Madam Ma'am Lady Lord Miss Mr Mrs "
    "Ms Dr Le La Les Un Une Et Mais Il Elle Ils Elles Je Tu Nous Vous On Ce Cette Ces Mon Ma Mes Son Sa Ses Quand "
    "Puis Alors Oui Non Ah Eh Bon Bien Pourquoi Comment Que Qui Quoi Où Dans Sur Sous Avec Sans Pour Par Chez Der "
    "Die Das Und Aber Ich Du Er Sie Wir Ihr Es Ja Nein Nicht Wenn Als Dann El Los Las Y Pero Yo Tú Él Ella "
    "Nosotros Sí No Cuando Entonces Christmas Easter English French German Spanish Italian Latin Greek Dutch "
    "Russian Chinese Japanese Indian American British Irish Scottish Welsh European African Christian Heaven Hell "
    "Sunday's Esq Ay Aye Hm Hush Hurrah Nay Nevertheless Whereupon Meanwhile Dieu Messieurs Mesdames Si Ne Mon "
    "Oh Hélas Voilà Voici Tiens Gott Dios".split()
)
_NOUN_ENDING = re.compile(r"\p{Ll}(?:ist|ism|ness|ment|tion|sion|ity|ship|hood)s?$")  # a capitalised noun, no name
_CONTRACTION = re.compile(r"['’](?:m|ll|ve|re|d|t|s)$", re.I)
HONORIFICS = set(
    "Mr Mrs Ms Miss Master Dr Sir Lady Lord Madam Captain Capt Colonel Col Major General Gen Lieutenant Lt "
    "Sergeant Aunt Uncle Professor Prof Father Mother Sister Brother Saint St Mme Mlle M Monsieur Madame "
    "Mademoiselle Herr Frau Fräulein Señor Señora Señorita Don Doña King Queen Prince Princess Count Countess "
    "Baron Duke Duchess Rev Reverend Judge Doctor Granny Grandma Grandpa Old Little Young".split()
)
_HINDI_HONORIFICS = set(
    "पंडित पण्डित बाबू मुंशी लाला चौधरी ठाकुर मियाँ बाबा दादा दादी चाचा चाची मौसी भैया बीबी बेगम मिर्ज़ा राजा रानी सेठ "
    "महाराज महात्मा स्वामी श्रीमती श्रीमान श्री".split()
)
_HINDI_NOT_NAMES = set(
    "में से की का के को ने पर था थी थे है हैं हो कर भर गया गई गए तो भी ही नहीं न और या कि जो जब तब अब यहाँ वहाँ "
    "मन दिल आप अपने अपनी अपना उसे उसको उनको इसे मुझे मुझसे तुम्हें हमें हमसे उनसे उससे किसी कुछ क्या क्यों कैसे "
    "वह वे यह ये उस उन इस इन मैं हम तुम आप उसने उन्होंने इसने मैंने हमने तुमने आपने किसी सब कोई दोनों सबने लोगों "
    "लड़के लड़की माँ पिता पेड़ घर बच्चे बच्चों गाँव किसान राजा रानी लोग भतीजे भतीजा अम्मा आदमी औरत लड़का बहू बेटा "
    "बेटी बेटे पति पत्नी भाई बहन माता स्त्री पुरुष नौकर मालिक साहब कष्ट".split()
)
_HINDI_VERBS = re.compile(r"^(?:ने|बोला|बोली|बोले|बोलीं|कहा|पूछा|चिल्लाया|चिल्लाई)$")
_PARTICLES = {"de", "van", "von", "du", "da", "del", "di", "le", "la", "der", "den", "ter", "O'"}
_PERSON_NOUNS = set(
    "man woman boy girl child lad lass fellow gentleman lady friend brother sister father mother son daughter "
    "uncle aunt cousin wife husband king queen prince princess servant maid master mistress doctor captain "
    "sailor soldier girl-friend neighbour neighbor stranger widow old young little poor dear".split()
)
_PLACE_WORDS = re.compile(
    r"\b(harbou?r|village|town|city|castle|forest|river|lake|lighthouse|street|road|lane|hill|mountain|valley|"
    r"island|bay|port|market|school|station|inn|tavern|rock|gate|bridge|square|house|hall|tower|shop|workshop|"
    r"park|church|abbey|court|manor|farm|wood|woods|sea|ocean|county|country|kingdom|palace|temple)\b",
    re.IGNORECASE,
)
_LOCATION_PREPS = re.compile(
    r"\b(?:in|at|to|from|near|across|toward|towards|into)\s+(?:the\s+)?(\p{Lu}[\w’']+(?:\s+\p{Lu}[\w’']+)*)"
)
# what only someone does: evidence that a name is a person, not a thing ("called" is not: "a lamp called Sofronie")
_SAID = rf"(?:{_VERBS.replace('called|', '')}|say|thought|wondered)\b"
_LOWER_TITLES = (  # "le père Grappe", "papa Grappe", "tía Luisa": a person
    r"(?:père|mère|papa|maman|monsieur|madame|mademoiselle|tante|oncle|sœur|frère|señor|señora|tío|tía|onkel)"
)
_NAMED_PLACE = re.compile(r"\b(\p{Lu}[\w’']+)\s+(?:" + _PLACE_WORDS.pattern[2:-2] + r")\b(?!\s+\p{Lu})")
_TOKEN = re.compile(r"\w+(?:['’]\w+)*")
_NAME_TOKEN = re.compile(r"\p{Lu}\w*(?:-\p{Lu}\w*)+|\w+(?:['’]\w+)*")  # "Barbe-Bleue" whole
_VERB_TAG = re.compile(
    r"(?:said|asked|replied|cried|answered|exclaimed|whispered|shouted|called|dit|demanda|répondit|sagte|dijo)\s+$", re.I
)


_FIRST_PERSON = re.compile(r"(?<!\w)(?:I|my|me|myself|je|j'|j’|moi|ich|mich|mir|yo|mí|मैं|मैंने|मेरा|मेरी|मुझे)(?!\w)")


def narrator(text: str, names: dict[str, list[str]]) -> str:
    """The character telling a first-person story: when the narration (outside quotations) says "I" often, the
    cast member others speak to by name but whom the narration itself never names, or a name only called out
    in a quotation ("“For the love of God, Montressor!”"), or "I"
    when no one fits (the narrator is unnamed: still one speaker, "I said"). '' when the story is not told in
    the first person."""
    outside = re.sub(r"“[^”]*”|\"[^\"]*\"|«[^»]*»|‘[^’]*’", " ", text)
    words = max(1, len(tx.words(outside)))
    if len(_FIRST_PERSON.findall(outside)) < 0.015 * words:
        return ""
    best, score = "", 0
    for name, aliases in names.items():
        forms = [name, *aliases]
        in_narration = sum(1 for f in forms for _ in tx.mention(f).finditer(outside))
        spoken_to = sum(
            len(re.findall(rf"[“\"‘«]\s*{re.escape(f)}\s*[,!?]|,\s*{re.escape(f)}\s*[!?.]?\s*[”\"’»]", text)) for f in forms
        )
        if spoken_to > score and in_narration <= 1:
            best, score = name, spoken_to
    if not best:  # a name only others call out ("“For the love of God, Montressor!”"), never used in the narration
        called = Counter(
            m.group(1)
            for m in re.finditer(r",\s*(\p{Lu}\p{Ll}+)\s*[!?]\s*[”\"’»]", text)
            if m.group(1) not in _NOT_NAMES and m.group(1) not in HONORIFICS and not tx.mentions(m.group(1), outside)
        )
        best = called.most_common(1)[0][0] if called else ""
    return best or "I"


@dataclass
class Person:
    name: str
    aliases: list[str] = field(default_factory=list)
    mentions: int = 0


def characters(text: str, language: str, cues: list[str] | None = None, min_count: int = 2) -> list[Person]:
    """The cast, most mentioned first."""
    if language == "hi" or (text and not tx.is_latin(text)):
        people = _hindi_names(text, min_count)
    else:
        people = _latin_names(text, min_count)
    for title, n in _tagged_titles(text).items():  # "said Madame" twice: Madame speaks, a character
        if n >= 2 and not any(title in (p.name, *p.aliases) for p in people):
            people.append(Person(title, [], n))
    for cue in dict.fromkeys(cues or []):  # a play's cast is in its cues
        known = next((p for p in people if cue in (p.name, *p.aliases)), None)
        if known is None:
            people.append(Person(cue, [], sum(1 for _ in tx.mention(cue).finditer(text)) or 1))
    return sorted(people, key=lambda p: -p.mentions)


def _tagged_titles(text: str) -> Counter[str]:
    """Speakers a tag names by a title alone ("said Madame", "returned the King"), counted."""
    found = Counter()
    for m in re.finditer(rf"\b(?:{_VERBS})\s+(?:the\s+)?(\p{{Lu}}\p{{Ll}}+)\b(?!\s+\p{{Lu}})", text):
        abbreviation = m.group(1) in {"Mr", "Mrs", "Ms", "Dr", "St", "Mme", "Mlle", "Capt", "Col", "Lt", "Prof", "Rev"}
        if (m.group(1) in HONORIFICS or m.group(1) in _TITLE_WORDS) and not abbreviation:
            found[m.group(1)] += 1
    return found


_TITLE_WORDS = set("King Queen Prince Princess Count Countess Duke Duchess Emperor Empress Bishop Judge Doctor Colonel".split())


def _runs(sentence: str) -> list[tuple[tuple[str, ...], bool, int]]:
    """Capitalised runs of words in a sentence: (words, at the sentence's or a quotation's start, position).
    A capitalised hyphenated name ("Barbe-Bleue") is one word; a name inside a hyphenated word ("Tom-tit") is
    none."""
    tokens = [(m.group(0), m.start(), m.end()) for m in _NAME_TOKEN.finditer(sentence)]
    out, run, first_index = [], [], 0

    def close() -> None:
        start = tokens[first_index][1]
        opens = first_index == 0 or bool(re.search(r"[\"“‘'«„—–:]\s*$", sentence[:start]))  # "…, “Tom…" starts a quote
        out.append((tuple(run), opens, start))

    for i, (tok, start, end) in enumerate(tokens):
        tok = re.sub(r"['’]s$", "", tok)
        hyphenated = sentence[start - 1 : start] == "-" or (
            sentence[end : end + 1] == "-" and sentence[end + 1 : end + 2].isalpha()
        )
        gap = sentence[tokens[i - 1][2] : start] if i else ""
        joined = run and gap in (" ", ". ") and (gap == " " or run[-1] in HONORIFICS)
        capital = tok[:1].isupper() and not (tok.isupper() and len(tok) > 1 and tok not in HONORIFICS)
        capital = capital and not _CONTRACTION.search(tok) and not _NOUN_ENDING.search(tok)  # I'm; a Bunburyist
        if (capital and tok not in _NOT_NAMES - HONORIFICS and not hyphenated) or (run and joined and tok in _PARTICLES):
            if not joined and run:
                close()
                run = []
            if not run:
                first_index = i
            run.append(tok)
            continue
        if run:
            close()
            run = []
    if run:
        close()
    cleaned = []
    for words, initial, pos in out:
        while words and (words[-1] in _PARTICLES or words[-1] in HONORIFICS):
            words = words[:-1]
        if words and any(w not in HONORIFICS for w in words) and len(words) <= 4:
            cleaned.append((words, initial, pos))
    return cleaned


def _opens_like_a_name(words: tuple[str, ...], text: str, lower: set[str]) -> bool:
    """A word seen only at sentence starts is a name when it is never written in lower case and what follows
    it is mostly a lower-case word that is not an article or pronoun ("Anna laughed", not "Suddenly the")."""
    if len(words) != 1 or words[0].casefold() in lower or words[0].endswith("ly"):
        return False
    follows = re.findall(rf"(?<![\w-]){re.escape(words[0])}\s+(\w+)", text)
    verbs = [w for w in follows if w[:1].islower() and w not in _NOT_AFTER_NAME]
    return len(verbs) * 2 > len(follows)


_NOT_AFTER_NAME = set("the a an he she it they we i you his her its their this that there these those of and or to in on".split())


def _display(words: tuple[str, ...]) -> str:
    dotted = {"Mr", "Mrs", "Ms", "Dr", "St", "Mme", "Mlle", "Capt", "Col", "Lt", "Prof", "Rev", "M"}
    return " ".join(f"{w}." if w in dotted else w for w in words)


def _latin_names(text: str, min_count: int) -> list[Person]:
    mid: Counter[tuple[str, ...]] = Counter()
    every: Counter[tuple[str, ...]] = Counter()
    for paragraph in text.split("\n"):
        for sentence in tx.sentences(paragraph):
            for words, initial, pos in _runs(sentence):
                after_tag = bool(_VERB_TAG.search(sentence[:pos]))
                every[words] += 1 + after_tag  # "…," said Tom: a name in a speech tag counts twice
                if not initial or after_tag:
                    mid[words] += 1
    lower = {w.casefold() for w in _TOKEN.findall(text) if w[:1].islower()}
    single = {w[0] for w in every if len(w) == 1 and mid[w]}
    known = {
        w: n
        for w, n in every.items()
        if mid[w]
        or (len(w) > 1 and w[0] in single)  # "Tom Arthur Sawyer came in": Tom is known ("Thereupon Anne" is not)
        or (n >= min_count + 1 and _opens_like_a_name(w, text, lower))
    }
    # the bare name inside "Mr. Hale" counts for "Mr. Hale"; short forms join the longest name they belong to,
    # but "Mr. Bennet" and "Mrs. Bennet" are two people
    core = {w: tuple(x for x in w if x not in HONORIFICS) for w in known}
    title = {w: tuple(x for x in w if x in HONORIFICS) for w in known}
    groups: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for words in sorted(known, key=lambda w: (-len(core[w]), -len(title[w]), -known[w])):
        c, t = core[words], title[words]
        owner = None
        for full in groups:
            fc, ft = core[full], title[full]
            # "Mr. Bennet" and "Mrs. Bennet" are two people, and neither is "Elizabeth Bennet"; a bare
            # "Bennet" or "Elizabeth" joins the name it is part of
            same_title = t == ft or not t
            if c and same_title and (c == fc or (len(c) < len(fc) and (fc[: len(c)] == c or fc[-len(c) :] == c))):
                owner = full if owner is None or known[full] > known[owner] else owner
        if owner is None:
            groups[words] = [words]
        else:
            groups[owner].append(words)
    people = []
    for members in groups.values():
        mentions = sum(known[m] for m in members)
        if mentions < min_count:
            continue
        # the name: the longest form the story uses at least a quarter of the time, else the most used one
        usual = [m for m in members if known[m] * 4 >= mentions] or [max(members, key=lambda m: known[m])]
        name = _display(max(usual, key=lambda m: (len(m), known[m])))
        people.append(Person(name, sorted({_display(m) for m in members} - {name}, key=lambda s: (-len(s), s)), mentions))
    placed = {m.group(1) for m in _NAMED_PLACE.finditer(text)}  # "Saltmere harbour": Saltmere is a place
    return [p for p in people if p.name not in placed and not _is_place(p, text) and not _is_thing(p, text)]


def _is_place(person: Person, text: str) -> bool:
    """Mostly written after "in", "into", "near", "at" (not "looked at"): a place ("at Green Gables")."""
    at = total = 0
    for name in (person.name, *person.aliases):
        total += sum(1 for _ in tx.mention(name).finditer(text))
        at += len(
            re.findall(rf"(?<!{_LOOK_AT})\b(?:in|into|near|at|inside|toward|towards|across|from)\s+{re.escape(name)}\b", text)
        )
    return total > 0 and at * 5 >= total * 2


_LOOK_AT = "(?:look|looked|looking|glance|glanced|stare|stared|smile|smiled|laugh|laughed|nod|nodded|point|pointed|gaze|gazed|wink|winked|frown|frowned|shout|shouted)"


def _is_thing(person: Person, text: str) -> bool:
    """The text calls the name a thing ("the lamp called Sofronie", "Sofronie, the lamp", "the Pequod", "to
    The Mended Oar") and no speech tag says otherwise, or names it five times or more and never treats it as
    someone (no he or she after it, no speech or thought, no honorific, never spoken to)."""
    things = said = the = total = 0
    pronoun = False
    for name in (person.name, *person.aliases):
        n = re.escape(name)
        said += len(re.findall(rf"\b{_SAID}\s+(?:\p{{Ll}}+\s+){{0,2}}{n}\b|\b{n}\s+(?:\w+ly\s+|\w+\s+to\s+)?{_SAID}", text))
        for noun in re.findall(
            rf"\b(?:the|a|an|his|her|their|its|old|our)\s+(\p{{Ll}}+)\s*,?\s+(?:called|named|known as)\s+{n}\b", text
        ):
            things += noun not in _PERSON_NOUNS
        for noun in re.findall(rf"\b{n},\s+(?:the|a|an|his|her|their|its|our)\s+(?:\p{{Ll}}+\s+)?(\p{{Ll}}+)\b", text):
            things += noun not in _PERSON_NOUNS and not noun.endswith(("ed", "ing", "ly"))
        things += len(re.findall(rf"\b(?:read|reads|painted|named)\s+{n}\b", text))
        if name.split()[0].rstrip(".") not in HONORIFICS:  # "the Lady Fortunato" is someone
            count = sum(1 for _ in tx.mention(name).finditer(text))
            total += count
            the += len(
                re.findall(
                    rf"(?<![\w])(?:[Tt]he|[Aa]n?|[Ll]a|[Ll]e|[Ll]es|[Aa]u|[Aa]ux|[Dd]u|[Uu]ne?|[Ee]l|[Dd]er|[Dd]ie|[Dd]as|[Ee]ine?)\s+{n}\b",
                    text,
                )
            )
        pronoun = pronoun or bool(re.search(rf"\b{n}\b[^.!?;“”\"]{{0,60}}\b(?:he|she|his|her|him|il|elle|er|sie)\b", text))
        # spoken to by name inside a quotation ("“Montresor!”", "“…, Jim?”"): someone
        pronoun = pronoun or bool(re.search(rf"[“\"‘«]\s*{n}\s*,|,\s*{n}\s*[!?.]?\s*[”\"’»]", text))
        if _PLACE_WORDS.fullmatch(name.split()[-1]):
            things += 1
    if the and the * 2 >= total:
        things += the
    honoured = any(form.split()[0].rstrip(".") in HONORIFICS for form in (person.name, *person.aliases)) or any(
        re.search(rf"\b{_LOWER_TITLES}\s+{re.escape(form)}\b", text) for form in (person.name, *person.aliases)
    )
    someone = said > 0 or honoured or pronoun
    # never treated as someone, though named often enough that a person would have been (a short stretch of a
    # long story may not say)
    return (things > 0 and said == 0) or (not someone and person.mentions >= 5)


def _hindi_names(text: str, min_count: int) -> list[Person]:
    """Agents before the ergative "ने" (and before a speech verb, once they are known from "ने" or carry an
    honorific), not function words, plural forms or participles."""
    tokens = _TOKEN.findall(text)
    agents: Counter[str] = Counter()
    speakers: Counter[str] = Counter()
    titled: dict[str, str] = {}
    for i, (tok, nxt) in enumerate(itertools.pairwise(tokens)):
        if tok in _HINDI_NOT_NAMES or tok in _HINDI_HONORIFICS or len(tok) < 2 or tok.endswith("ों"):
            continue
        honoured = i > 0 and tokens[i - 1] in _HINDI_HONORIFICS
        if nxt == "ने":
            agents[tok] += 1
        elif _HINDI_VERBS.match(nxt):
            speakers[tok] += 1
        if honoured and (nxt == "ने" or _HINDI_VERBS.match(nxt)):
            titled[tok] = f"{tokens[i - 1]} {tok}"
    names = set(agents) | {t for t, n in speakers.items() if t in titled or (n >= 2 and not t.endswith("कर"))}

    # one person under several spellings: with and without the nukta (लाड़ली, लाडली), with and without the
    # respectful -जी (विप्रजी, विप्र)
    def key(tok: str) -> str:
        return tok.replace("\u093c", "").removesuffix("जी") or tok

    keys = {key(t) for t in names} - _HINDI_HONORIFICS  # "पंडितजी", "महाराज": how someone is addressed, not a name
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for tok in tokens:
        if key(tok) in keys and (tok in names or key(tok) == tok.replace("\u093c", "")):
            counts[key(tok)] += 1
            forms.setdefault(key(tok), Counter())[tok] += 1
    people = []
    for k, n in counts.most_common():
        if n >= min_count:
            usual = forms[k].most_common(1)[0][0]
            name = titled.get(usual, usual)
            aliases = sorted((set(forms[k]) | {usual}) - {name})
            people.append(Person(name, aliases, n))
    return people


def place_names(text: str) -> list[str]:
    """Capitalised phrases after a place preposition, or next to a place word ('Saltmere harbour')."""
    found: Counter[str] = Counter()
    for match in _LOCATION_PREPS.finditer(text):
        phrase = match.group(1)
        if phrase.split()[0] not in _NOT_NAMES and phrase.split()[0] not in HONORIFICS:
            found[phrase] += 1
    for match in re.finditer(r"\b(\p{Lu}[\w’']+)\s+(" + _PLACE_WORDS.pattern[2:-2] + r")\b", text, re.IGNORECASE):
        if match.group(1) not in _NOT_NAMES and match.group(1)[0].isupper():
            found[f"{match.group(1)} {match.group(2)}"] += 1
    return [name for name, _ in found.most_common()]
