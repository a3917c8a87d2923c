"""`llm=heuristic`: a deterministic rule-based planner behind the LLM protocol. No weights, no network.

It does the same jobs as a language model, from the structure of the text instead of the prompt:
- story_bible: characters from recurring capitalised names (names before "ने" in Devanagari), a visual
  description from the first sentence that says what they look like, places from "in/at/to X" and "X harbour";
- split_scenes: explicit breaks (runs of blank lines, `***`, chapter headings, INT./EXT. sluglines), otherwise
  paragraphs grouped to a target length;
- plan_shots: sentence groups of a target length, with shot types varied by what the sentences contain.
"""

from __future__ import annotations

import re
from typing import Any

from storyforge import text as tx
from storyforge.models import (
    Character,
    Location,
    ModelProvider,
    Scene,
    SceneList,
    ScenePlan,
    Shot,
    ShotType,
    Story,
    StoryBible,
)
from storyforge.services.llm import LLMBackend
from storyforge.services.protocols import T

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


class HeuristicLLM(LLMBackend):
    provider = ModelProvider.rules

    class Params(LLMBackend.Params):
        max_concurrency: int = 8  # rules are cheap: no reason to queue
        max_characters: int = 8  # cast size kept in the story bible
        max_locations: int = 6  # places kept in the story bible

    async def generate(self, task: str, prompt: str, schema: type[T], context: dict[str, Any]) -> T:
        handler = {"story_bible": self._bible, "split_scenes": self._scenes, "plan_shots": self._shots}[task]
        return schema.model_validate(handler(**context).model_dump())

    def _bible(self, title: str, text: str, language: str) -> StoryBible:
        names = tx.proper_names(text, min_count=2 if language != "en" else 3)
        places = [p for p in tx.place_names(text) if p not in names and not any(w in names for w in p.split())]
        cast = [n for n, _ in names.most_common() if not any(n in p.split() for p in places)]
        sentences = tx.sentences(" ".join(p for _, paragraphs in tx.split_sections(text) for p in paragraphs))
        characters = []
        for name in cast[: self.params.max_characters]:
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
        return StoryBible(characters=characters, locations=locations[: self.params.max_locations], summary=summary[:600])

    def _scenes(self, story: Story, target_words: int) -> SceneList:
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

    def _shots(self, story: Story, scene: Scene, shot_words: int, words_per_minute: float) -> ScenePlan:
        groups: list[list[str]] = [[]]
        for sentence in tx.sentences(scene.text):
            if groups[-1] and sum(len(tx.words(s)) for s in groups[-1]) >= shot_words:
                groups.append([])
            groups[-1].append(sentence)
        shots = []
        for i, group in enumerate(g for g in groups if g):
            narration = " ".join(group)
            who = [c.name for c in story.characters if c.name in narration]
            shot_type = self._shot_type(i, narration, who)
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

    @staticmethod
    def _shot_type(i: int, narration: str, who: list[str]) -> ShotType:
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
