"""Rule-based story understanding: the story bible, scene splits, shot plans and summaries from the structure
of the text alone. `llm=heuristic` answers every task with these; stages fall back to them when a model's answer
leaves out part of the story.
"""

from __future__ import annotations

import difflib
import re

from storyforge import text as tx
from storyforge.models import Character, Location, Scene, SceneList, ScenePlan, Shot, ShotType, Story, StoryBible

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


def story_bible(title: str, text: str, language: str, max_characters: int = 8, max_locations: int = 6) -> StoryBible:
    """Cast from recurring capitalised names (names before "ने" in Devanagari), looks from the sentence that
    says most about them, places from "in/at/to X" and "X harbour", a summary from paragraph openings."""
    # a name must recur; in a short text (or one chunk of a long one) twice is enough
    names = tx.proper_names(text, min_count=2 if language != "en" or len(tx.words(text)) < 600 else 3)
    places = [p for p in tx.place_names(text) if p not in names and not any(w in names for w in p.split())]
    cast = [n for n, _ in names.most_common() if not any(n in p.split() for p in places)]
    sentences = tx.sentences(" ".join(p for _, paragraphs in tx.split_sections(text) for p in paragraphs))
    characters = []
    for name in cast[:max_characters]:
        # sentences naming them, and the two after each (where "she"/"he" usually still means them)
        about = [t for i, s in enumerate(sentences) if name in s for t in sentences[i : i + 3]]
        others = [n for n in cast if n != name]

        def score(s: str, name: str = name, others: list[str] = others) -> int:
            return 2 * len(_LOOKS.findall(s)) + (name in s) - 3 * sum(o in s for o in others)

        looks = max(about, key=score, default="")
        characters.append(Character(name=name, description=looks[:240], mentions=names[name]))
    locations = [Location(name=p, description=next((s for s in sentences if p in s), "")[:240]) for p in places]
    firsts = [para.split("\n")[0] for para in text.split("\n\n") if para.strip()]
    summary = " ".join(tx.sentences(p)[0] for p in firsts[:3] if tx.sentences(p))
    return StoryBible(characters=characters, locations=locations[:max_locations], summary=summary[:600])


def split_scenes(story: Story, target_words: int) -> SceneList:
    """Explicit breaks (runs of blank lines, `***`, chapter headings, sluglines), else paragraphs grouped to
    `target_words`."""
    if len(story.sections) > 1:
        blocks = [(s.heading, s.paragraphs) for s in story.sections]
    else:
        blocks, current, count = [], [], 0
        for para in story.sections[0].paragraphs if story.sections else []:
            current.append(para)
            count += len(tx.words(para))
            if count >= target_words:
                blocks.append(("", current))
                current, count = [], 0
        if current:
            blocks.append(("", current))
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
                characters=[c.name for c in story.characters if c.name in body],
                location=next((loc.name for loc in story.locations if loc.name in body), ""),
                mood=mood,
            )
        )
    return SceneList(scenes=scenes)


def plan_shots(story: Story, scene: Scene, shot_words: int, words_per_minute: float) -> ScenePlan:
    """Sentence groups of about `shot_words`, shot types varied by what the sentences contain."""
    groups: list[list[str]] = [[]]
    for sentence in tx.sentences(scene.text):
        if groups[-1] and sum(len(tx.words(s)) for s in groups[-1]) >= shot_words:
            groups.append([])
        groups[-1].append(sentence)
    shots = []
    for i, group in enumerate(g for g in groups if g):
        narration = " ".join(group)
        who = [c.name for c in story.characters if c.name in narration]
        shot_type = shot_type_for(i, narration, who)
        where = f" at {scene.location}" if scene.location else ""
        visual = max(group, key=lambda s: len(_LOOKS.findall(s)) * 40 + min(len(s), 200) - 100 * bool(_QUOTES.search(s)))
        description = f"{shot_type.value.replace('_', ' ').capitalize()}{where}: {visual[:220]}"
        seconds = max(2.0, round(len(tx.words(narration)) / words_per_minute * 60, 1))
        shots.append(
            Shot(
                scene_index=scene.index,
                index=i + 1,
                shot_type=shot_type,
                camera=_CAMERA[shot_type],
                description=description,
                narration=narration,
                duration_s=seconds,
                characters=who,
            )
        )
    return ScenePlan(scene_index=scene.index, shots=shots)


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


def narrate_from_text(plan: ScenePlan, scene: Scene, words_per_minute: float) -> ScenePlan:
    """Keep a plan's shots (framing, camera, picture) but give them the scene's own sentences as narration,
    split as evenly as the sentences allow, with durations to match."""
    sentences = tx.sentences(scene.text) or [scene.text]
    n = max(1, min(len(plan.shots), len(sentences)))
    total = sum(len(tx.words(s)) for s in sentences)
    groups: list[list[str]] = [[] for _ in range(n)]
    done = 0
    for s in sentences:  # sentence k goes to the shot whose share of the words it starts in
        groups[min(n - 1, done * n // max(total, 1))].append(s)
        done += len(tx.words(s))
    shots = []
    for i, (shot, group) in enumerate(zip(plan.shots, groups, strict=False), start=1):
        narration = " ".join(group)
        seconds = max(2.0, round(len(tx.words(narration)) / words_per_minute * 60, 1))
        shots.append(shot.model_copy(update={"index": i, "narration": narration, "duration_s": seconds}))
    return plan.model_copy(update={"shots": [s for s in shots if s.narration]})
