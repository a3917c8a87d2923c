"""Rule-based story understanding: the story bible, scene splits, shot plans and summaries from the structure
of the text alone. `llm=heuristic` answers every task with these; stages fall back to them when a model's answer
leaves out part of the story.
"""

from __future__ import annotations

import difflib

import regex as re

from storyforge import text as tx
from storyforge.models import (
    Character,
    Location,
    Scene,
    SceneList,
    ScenePlan,
    Shot,
    ShotType,
    Story,
    StoryBible,
    Utterance,
    VoiceType,
)
from storyforge.reading import cast, dialogue

_LOOKS = re.compile(
    r"\b(hair|braids?|beard|eyes|coat|jumper|sweater|dress|frock|boots|hat|cap|wore|wearing|cloak|scarf|"
    r"spectacles|glasses|freckles|apron|jacket|shawl)\b|चोटि|बाल|फ्रॉक|गमछा|कुर्ता|साड़ी",
)
_MOODS = {
    "tense": r"\b(fog|storm|dark|afraid|fear|danger|sink|sank|lost|cold|cried|scream|worr\w*|shiver\w*)\b",
    "joyful": r"\b(laugh\w*|smil\w*|cheer\w*|festival|bright|joy\w*|danc\w*|sang|celebrat\w*|glow\w*)\b",
    "wistful": r"\b(remember\w*|old|quiet|alone|sigh\w*|memory|memories|once)\b",
}
_CAMERA = {
    ShotType.establishing: "slow push in",
    ShotType.wide: "slow pan right",
    ShotType.medium: "static",
    ShotType.close_up: "slow push in",
    ShotType.over_the_shoulder: "static",
    ShotType.insert: "tilt down",
}
_QUOTES = re.compile(r"[“”\"«»]")


def story_bible(
    title: str,
    text: str,
    language: str,
    cues: list[str] | None = None,
    max_characters: int = 12,
    max_locations: int = 6,
) -> StoryBible:
    """Cast from recurring names (storyforge.reading.cast: multi-word names with their short forms, named things
    left out, a play's cues), looks from the sentence that says most about them, places from "in/at/to X" and
    "X harbour", a summary from paragraph openings."""
    # a name must recur; in a short text (or one chunk of a long one) twice is enough
    people = cast.characters(text, language, cues, min_count=2 if language != "en" or len(tx.words(text)) < 600 else 3)
    names = {form for p in people for form in (p.name, *p.aliases)}
    places = [p for p in cast.place_names(text) if p not in names and not any(w in names for w in p.split())]
    people = [p for p in people if not any(p.name in place.split() for place in places)]
    sentences = [s for para in re.split(r"\n\s*\n", text) for s in tx.sentences(para)]
    characters = []
    gender = dialogue.genders(text, [p.name for p in people[:max_characters]], {p.name: p.aliases for p in people})
    for person in people[:max_characters]:
        forms = [person.name, *person.aliases]
        # sentences naming them, and the two after each (where "she"/"he" usually still means them)
        about = [t for i, s in enumerate(sentences) if any(tx.mentions(f, s) for f in forms) for t in sentences[i : i + 3]]
        others = [o.name for o in people if o is not person]

        def score(s: str, forms: list[str] = forms, others: list[str] = others) -> int:
            return 2 * len(_LOOKS.findall(s)) + any(tx.mentions(f, s) for f in forms) - 3 * sum(tx.mentions(o, s) for o in others)

        looks = max(about, key=score, default="")
        characters.append(
            Character(
                name=person.name,
                aliases=person.aliases,
                description=looks[:240],
                mentions=person.mentions,
                gender=gender.get(person.name, ""),
            )
        )
    locations = [Location(name=p, description=next((s for s in sentences if p in s), "")[:240]) for p in places]
    firsts = [para.split("\n")[0] for para in text.split("\n\n") if para.strip()]
    summary = " ".join(tx.sentences(p)[0] for p in firsts[:3] if tx.sentences(p))
    return StoryBible(characters=characters, locations=locations[:max_locations], summary=summary[:600])


def present(story: Story, text: str) -> list[str]:
    """Canonical names of the cast members the text mentions (any of their names, whole words)."""
    return [c.name for c in story.characters if any(tx.mentions(n, text) for n in (c.name, *c.aliases))]


def split_scenes(story: Story, target_words: int) -> SceneList:
    """Explicit breaks (runs of blank lines, `***`, chapter headings, sluglines) first; a section longer than
    twice `target_words` (or a story without breaks) is cut into scenes of about `target_words` at paragraph
    ends, and inside a long paragraph at sentence ends, never inside a quotation."""
    sections = [(s.heading, s.paragraphs) for s in story.sections]
    blocks: list[tuple[str, list[str]]] = []
    for heading, paragraphs in sections:
        size = sum(len(tx.words(p)) for p in paragraphs)
        if len(sections) > 1 and size <= 2 * target_words:
            blocks.append((heading, paragraphs))
            continue
        parts = max(1, round(size / target_words))
        for k, part in enumerate(_cut(paragraphs, size / parts)):
            blocks.append((heading if k == 0 else "", part))
    scenes = []
    for i, (heading, paragraphs) in enumerate(blocks, start=1):
        body = "\n\n".join(paragraphs)
        first = (tx.sentences(body) or [body])[0]
        title = heading or " ".join(tx.words(first)[:6])
        mood = max(_MOODS, key=lambda m: len(re.findall(_MOODS[m], body, re.IGNORECASE)))
        if not re.search(_MOODS[mood], body, re.IGNORECASE):
            mood = "calm"
        scenes.append(
            Scene(
                index=i,
                title=title,
                text=body,
                summary=first[:300],
                characters=present(story, body),
                location=next((loc.name for loc in story.locations if tx.mentions(loc.name, body)), ""),
                mood=mood,
            )
        )
    return SceneList(scenes=scenes)


def _cut(paragraphs: list[str], share: float) -> list[list[str]]:
    """Paragraphs grouped into parts of about `share` words: a part ends at the paragraph end nearest its share;
    a paragraph longer than the share is cut into sentence runs (never inside a quotation) first."""
    units: list[tuple[str, bool]] = []  # (text, ends a paragraph)
    for para in paragraphs:
        if len(tx.words(para)) <= share * 1.25:
            units.append((para, True))
            continue
        runs, current = [], []
        for sentence, inside in dialogue.sentence_units(para):
            current.append(sentence)
            if not inside and sum(len(tx.words(s)) for s in current) >= share:
                runs.append(" ".join(current))
                current = []
        if current:
            runs.append(" ".join(current))
        units += [(run, k == len(runs) - 1) for k, run in enumerate(runs)]
    parts: list[list[tuple[str, bool]]] = [[]]
    count = 0.0
    for text, ends in units:
        n = len(tx.words(text))
        if parts[-1] and count + n / 2 > share:  # this unit sits mostly past the share: it opens the next part
            parts.append([])
            count = 0
        if parts[-1] and not parts[-1][-1][1]:  # the previous run of the same paragraph: rejoin it
            parts[-1][-1] = (f"{parts[-1][-1][0]} {text}", ends)
        else:
            parts[-1].append((text, ends))
        count += n
    return [[t for t, _ in part] for part in parts if part]


def plan_shots(story: Story, scene: Scene, shot_words: int, words_per_minute: float | None = None) -> ScenePlan:
    """Sentence groups of about `shot_words`, never broken inside a quotation (unless it runs past three shots'
    worth of words), shot types varied by what the sentences contain."""
    wpm = words_per_minute or tx.words_per_minute(story.language)
    groups: list[list[str]] = [[]]
    inside = False
    for paragraph in re.split(r"\n\s*\n", scene.text):
        for sentence, still_inside in dialogue.sentence_units(paragraph):
            size = sum(len(tx.words(s)) for s in groups[-1])
            if groups[-1] and size >= shot_words and (not inside or size >= 3 * shot_words):
                groups.append([])
            groups[-1].append(sentence)
            inside = still_inside
    shots = []
    for i, group in enumerate(g for g in groups if g):
        narration = " ".join(group)
        who = present(story, narration)
        shot_type = shot_type_for(i, narration, who)
        description = picture(group, shot_type, scene.location)
        shots.append(
            Shot(
                scene_index=scene.index,
                index=i + 1,
                shot_type=shot_type,
                camera=_CAMERA[shot_type],
                description=description,
                narration=narration,
                duration_s=planned_seconds(narration, wpm),
                characters=who,
            )
        )
    return ScenePlan(scene_index=scene.index, shots=shots)


def picture(sentences: list[str], shot_type: ShotType, location: str = "") -> str:
    """What a shot over these sentences shows: its framing, the place, and the sentence that says most about
    how things look (not a line of dialogue where there is another)."""
    where = f" at {location}" if location else ""
    visual = max(sentences, key=lambda s: len(_LOOKS.findall(s)) * 40 + min(len(s), 200) - 100 * bool(_QUOTES.search(s)))
    return f"{shot_type.value.replace('_', ' ').capitalize()}{where}: {_clip(visual, 220)}"


def planned_seconds(narration: str, words_per_minute: float) -> float:
    """How long a shot is planned to last before its narration is measured (then the speech decides)."""
    return max(2.0, round(len(tx.words(narration)) / words_per_minute * 60, 1))


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:—– ") + "…"


def shot_type_for(i: int, narration: str, who: list[str]) -> ShotType:
    if i == 0:
        return ShotType.establishing
    dialogue = bool(_QUOTES.search(narration))
    if dialogue and len(who) >= 2:
        return ShotType.over_the_shoulder
    if dialogue or (len(who) == 1 and i % 2):
        return ShotType.close_up
    if who:
        return ShotType.medium
    return ShotType.wide if i % 2 else ShotType.insert


def summarize(text: str, max_chars: int = 600) -> str:
    """The opening sentence of each paragraph, in order, up to `max_chars`."""
    out = ""
    for para in (p for p in text.split("\n\n") if p.strip()):
        first = (tx.sentences(para) or [para])[0]
        if out and len(out) + len(first) + 1 > max_chars:
            break
        out = f"{out} {first}".strip()
    return out[:max_chars]


def merge_bibles(bibles: list[StoryBible], summary: str) -> StoryBible:
    """One bible from per-chunk bibles: characters and places by name (first description that says something,
    mentions added up), most mentioned first."""
    cast: dict[str, Character] = {}
    places: dict[str, Location] = {}
    for bible in bibles:
        for c in bible.characters:
            known = cast.get(c.name) or next((k for k in cast.values() if c.name in k.aliases), None)
            if known is None:
                cast[c.name] = c.model_copy()
                continue
            known.mentions += c.mentions
            known.aliases = list(dict.fromkeys(known.aliases + [a for a in c.aliases if a != known.name]))
            known.description = known.description or c.description
        for loc in bible.locations:
            if loc.name not in places:
                places[loc.name] = loc.model_copy()
            elif not places[loc.name].description:
                places[loc.name].description = loc.description
    characters = sorted(cast.values(), key=lambda c: -c.mentions)
    return StoryBible(characters=characters, locations=list(places.values()), summary=summary)


def coverage(source: str, parts: list[str]) -> float:
    """Share of the source's words that the parts reproduce, in order (1.0: nothing left out or rewritten)."""
    want = [w.casefold() for w in tx.words(source)]
    if not want:
        return 1.0
    got = [w.casefold() for part in parts for w in tx.words(part)]
    matcher = difflib.SequenceMatcher(None, want, got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(want)


def leads(story: Story) -> dict[str, str]:
    """The cast, most mentioned first, with their genders: who "she said" means when no one was just named;
    the first-person narrator under the key "I"."""
    return {c.name: c.gender for c in story.characters} | ({"I": story.narrator} if story.narrator else {})


def cast_names(story: Story) -> dict[str, str]:
    """Every name and alias of the cast -> the canonical name."""
    return {n: c.name for c in story.characters for n in (c.name, *c.aliases) if n}


def assign_speech(plan: ScenePlan, scene: Scene, story: Story) -> ScenePlan:
    """Who speaks which part of each shot's narration, from the scene's dialogue as a whole (so an exchange
    alternates across shots and a quotation cut by a shot break keeps its speaker). The shots' words are
    matched to the scene's in order; words the model rewrote take the voice of the words before them."""
    paragraphs = re.split(r"\n\s*\n", scene.text)
    before = _preceding(story.text, paragraphs[0])  # an exchange that began in the scene before goes on
    read = dialogue.attribute(before + paragraphs, cast_names(story), story.cues, leads(story))
    lines = [line for para in read[len(before) :] for line in para]
    voice = [(k, w.casefold()) for k, line in enumerate(lines) for w in tx.words(line.text)]
    at = 0
    shots = []
    for shot in plan.shots:
        marks: list[tuple[int, int]] = []  # (character offset in the narration, line index) where a voice starts
        found = list(re.finditer(r"\w+(?:['’]\w+)*", shot.narration))
        said = [m.group(0).casefold() for m in found]
        for wi, m in enumerate(found):
            word, after = said[wi], said[wi + 1] if wi + 1 < len(said) else None
            # the scene's next word, or a few further on; a longer jump only where the next word agrees too (a
            # rewritten "said" does not jump into a quotation that says "said" 30 words later)
            ahead = next(
                (
                    j
                    for j in range(at, min(at + 40, len(voice)))
                    if voice[j][1] == word and (j - at <= 3 or after is None or (j + 1 < len(voice) and voice[j + 1][1] == after))
                ),
                None,
            )
            k = voice[ahead][0] if ahead is not None else (marks[-1][1] if marks else (voice[at][0] if at < len(voice) else 0))
            at = ahead + 1 if ahead is not None else at
            if not marks or marks[-1][1] != k:
                marks.append((m.start(), k))
        cuts = [0]
        for n in range(1, len(marks)):  # a voice starts at its first word, or at the quotation mark before it
            cut = marks[n][0]
            while cut > marks[n - 1][0] + 1 and shot.narration[cut - 1] in "\"“„«‘'`":
                cut -= 1
            if cut > marks[n - 1][0] + 2 and shot.narration[cut - 2 : cut] in ("— ", "– ", "― "):
                cut -= 2
            cuts.append(cut)
        cuts.append(len(shot.narration))
        speech = [
            to_utterance(shot.narration[cuts[n] : cuts[n + 1]].strip(), lines[k] if lines else dialogue.Line("", False))
            for n, (_, k) in enumerate(marks)
        ]
        shots.append(shot.model_copy(update={"speech": _tidy(speech)}))
    return plan.model_copy(update={"shots": shots})


def _preceding(text: str, first: str, n: int = 8) -> list[str]:
    """The `n` paragraphs of the story just before the one that opens a scene (none when it is not found)."""
    at = text.find(first)
    return [p for p in re.split(r"\n\s*\n", text[max(0, at - 6000) : at]) if p.strip()][-n:] if at > 0 else []


def to_utterance(text: str, line: dialogue.Line) -> Utterance:
    if not line.quoted:
        return Utterance(text=text)
    return Utterance(text=text, voice=VoiceType.dialogue, speaker=line.speaker, reason=line.reason or "unknown")


def _tidy(speech: list[Utterance]) -> list[Utterance]:
    """No utterance without a word in it (a lone dash between two quotations joins the one before)."""
    out: list[Utterance] = []
    for u in speech:
        if tx.words(u.text) or not out:
            out.append(u)
        else:
            out[-1] = out[-1].model_copy(update={"text": f"{out[-1].text} {u.text}"})
    return out
