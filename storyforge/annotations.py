"""What a language model adds to a story whose words stay its own, and how its junk is kept out.

With `llm.role=annotate` the story is split and narrated by rules (storyforge.rules) and the model is asked
only what a small model can answer: what each character and place looks like, and per shot the picture, the
framing, the camera move and the mood. Whatever the role, an answer that is not the model's own is dropped
for the rules' version: a text of under two words, one that loops, or one that is mostly a copy of the
schema's field descriptions or of the prompt (a 135M model answers "One camera setup: a picture on screen while
its narration plays." when it has nothing to say); and cast members that are not names in the story (the
title, `{ }`).
"""

from __future__ import annotations

import copy
from collections import Counter
from difflib import SequenceMatcher
from typing import Any

import regex

from storyforge import text as tx
from storyforge.models import Looks, ScenePlan, ShotNotes, StoryBible

_WORD = regex.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def descriptions(schema: dict) -> list[str]:
    """Every `description` (and `title`) in a JSON schema: the text a model copies when it has nothing to say."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(str(node[k]) for k in ("description", "title") if isinstance(node.get(k), str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def boilerplate(text: str, sources: list[str]) -> bool:
    """Under two words, a loop (three words said three times: "a beautiful sight, a beautiful sight, ..."), or at
    least 80% of its words one run copied from one of `sources`."""
    words = _words(text)
    if len(words) < 2:
        return True
    if max(Counter(zip(words, words[1:], words[2:], strict=False)).values(), default=0) >= 3:
        return True
    for source in sources:
        theirs = _words(source)
        match = SequenceMatcher(None, words, theirs, autojunk=False).find_longest_match(0, len(words), 0, len(theirs))
        if match.size >= 0.8 * len(words):
            return True
    return False


def notes_shape(shots: int) -> dict:
    """ShotNotes' schema asking for exactly `shots` notes (a small model otherwise goes on inventing shots)."""
    shape = ShotNotes.model_json_schema()
    shape["properties"]["shots"] |= {"minItems": shots, "maxItems": shots}
    shape["$defs"]["ShotNote"]["properties"]["shot"] |= {"maximum": shots}
    return shape


def looks_shape(characters: list[str], places: list[str]) -> dict:
    """Looks' schema asking for exactly these characters and places, by these names and no others."""
    shape = Looks.model_json_schema()
    look = shape["$defs"].pop("Look")
    for key, names, name in (("characters", characters, "CharacterLook"), ("places", places, "PlaceLook")):
        item = copy.deepcopy(look)  # items stay definitions: a server's grammar then refers to one rule per item
        item["properties"]["name"] = {"type": "string", "enum": names} if names else item["properties"]["name"]
        shape["$defs"][name] = item
        shape["properties"][key] = {"type": "array", "items": {"$ref": f"#/$defs/{name}"}, "minItems": len(names),
                                    "maxItems": len(names)}  # fmt: skip
    shape["required"] = ["characters", "places"]
    return shape


def apply_notes(plan: ScenePlan, notes: ShotNotes, prompt: str) -> tuple[ScenePlan, int]:
    """The rules' plan with the model's notes on it, and how many shots took the model's own picture."""
    sources = [*descriptions(ShotNotes.model_json_schema()), prompt]
    shots = [s.model_copy() for s in plan.shots]
    own = set()
    # Asked for exactly one note per shot, in order: a note belongs to its place (a small model numbers them all
    # 1); otherwise to the shot it names.
    placed = len(notes.shots) == len(shots)
    for at, note in enumerate(notes.shots, start=1):
        number = at if placed else note.shot
        if not 1 <= number <= len(shots) or number in own:
            continue
        shot = shots[number - 1]
        shot.shot_type, shot.camera = note.shot_type, note.camera
        if not boilerplate(note.picture, sources):
            mood = " ".join(note.mood.split()[:4]).strip(" .")
            shot.description = note.picture.strip() + (f" Mood: {mood}." if mood and len(_words(mood)) <= 4 else "")
            own.add(number)
    return plan.model_copy(update={"shots": shots}), len(own)


def apply_looks(bible: StoryBible, looks: Looks, prompt: str) -> tuple[StoryBible, int]:
    """The rules' bible with the model's looks on the characters and places it names exactly."""
    sources = [*descriptions(Looks.model_json_schema()), prompt]
    said = {}
    for look in [*looks.characters, *looks.places]:
        if look.name.casefold() not in said and not boilerplate(look.look, sources):
            said[look.name.strip().casefold()] = look.look.strip()
    characters = [c.model_copy(update={"description": said.get(c.name.casefold(), c.description)}) for c in bible.characters]
    places = [p.model_copy(update={"description": said.get(p.name.casefold(), p.description)}) for p in bible.locations]
    taken = sum(c.name.casefold() in said for c in bible.characters) + sum(p.name.casefold() in said for p in bible.locations)
    return bible.model_copy(update={"characters": characters, "locations": places}), taken


def _fold(text: str) -> str:
    return text.casefold().replace("\u2019", "'").replace("\u2018", "'")


def clean_bible(bible: StoryBible, text: str) -> StoryBible:
    """A model's bible without cast members or places the story never names (the title when only the title
    says it, `{ }`, a schema word) and without descriptions copied from the schema (a sentence of the story is a
    fair look). A name counts when the story says it or an alias in any case ("the captain"), or a capitalised
    word of it as a name ("Elizabeth" of "Elizabeth Bennet"; not "kite" of "The Kite Race")."""
    sources = descriptions(StoryBible.model_json_schema())
    folded = _fold(text)

    def real(name: str, aliases: tuple[str, ...] | list[str] = ()) -> bool:
        if not _words(name):
            return False
        for form in (name, *aliases):
            if form.strip() and regex.search(rf"(?<!\w){regex.escape(_fold(form.strip()))}(?!\w)", folded):
                return True
        return any(tx.mentions(w, text) for w in name.split() if len(w) > 3 and w[:1].isupper())

    characters = [
        c.model_copy(update={"description": "" if boilerplate(c.description, sources) else c.description})
        for c in bible.characters
        if real(c.name, c.aliases)
    ]
    places = [
        p.model_copy(update={"description": "" if boilerplate(p.description, sources) else p.description})
        for p in bible.locations
        if real(p.name)
    ]
    return bible.model_copy(update={"characters": characters, "locations": places})
