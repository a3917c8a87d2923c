"""`ApplyCastEdits`: the story with the user's edits to its cast applied: a character's look (the description
every picture of them is drawn from) and their dialogue voice.

It sits between ingest and the per-shot stages, not in ingest, so editing a character never re-reads the story
or re-plans a scene: the pictures that show the character are redrawn (RenderShot keys each picture on the
characters it shows) and the lines they speak re-voiced; everything else comes from the cache. Example override:
`+stages.cast.edits.Alice.description="a tall woman in a green coat"`.
"""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import StoryforgeError
from storyforge.models import Character, CharacterEdit, Story


class ApplyCastEdits(Stage):
    class Params(Params):
        edits: dict[str, CharacterEdit] = {}  # character name (as in story.json) -> description and/or voice

    async def run(self, ctx: RunContext, story: Story) -> Story:
        if not self.params.edits:
            return story
        names = [c.name for c in story.characters]
        if unknown := sorted(set(self.params.edits) - set(names)):
            raise StoryforgeError(
                f"stages.cast.edits names characters {unknown} that the story's cast does not have.",
                f"use names from story.json's characters: {', '.join(names[:8]) or '(the cast is empty)'}.",
            )
        cast = [Character.model_validate({**c.model_dump(), **self.params.edits[c.name].changes()})
                if c.name in self.params.edits else c for c in story.characters]  # fmt: skip
        return story.model_copy(update={"characters": cast})
