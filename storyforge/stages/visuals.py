"""`RenderShot`: one shot -> its picture (a still or a clip), fanned out with `for_each: shots`.

The image prompt carries the story bible's description of every character in the shot, so a character looks
the same in every shot. Seeds come from (run seed, shot id), or with `seed_by: character` from (run seed, the
first character in the shot), so a character is drawn from the same noise wherever they appear. A shot's
`take` (a re-roll from the studio or `stages.shots.edits`) derives a new seed from that one.

With `continuity: last_frame | keyframe`, the shots of a scene run in order and each gets the picture of the
one before (the engine's `chain`): editing a shot re-renders it and the shots after it in its scene.
"""

from __future__ import annotations

from typing import Literal

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.engine.runner import derive_seed
from storyforge.media import media_type
from storyforge.models import Artifact, Character, Shot, ShotVisual, Story


class RenderShot(Stage):
    uses = ("video",)
    prompts = ("shot_image",)

    version = "2"  # 2: takes (re-rolled seeds); keyed on the characters the shot shows, not the whole cast

    class Params(Params):
        style: str = "storybook illustration, soft light"  # look appended to every image prompt
        continuity: Literal["none", "keyframe", "last_frame"] = "none"  # what carries from shot to shot in a scene
        seed_by: Literal["shot", "character"] = "shot"  # character: one seed per character, wherever they appear

    def key_view(self, inputs: dict) -> dict:
        return {"story": [c.model_dump(mode="json", exclude={"voice"}) for c in shown(inputs["shot"], inputs["story"])]}

    def chain(self) -> str | None:
        return "scene_index" if self.params.continuity != "none" else None

    async def run(self, ctx: RunContext, shot: Shot, story: Story, previous: ShotVisual | None = None) -> ShotVisual:
        cast = shown(shot, story)
        characters = [c.model_dump(exclude={"voice"}) for c in cast]  # a voice is not drawn
        prompt = ctx.prompts.render(
            "shot_image", shot=shot.model_dump(mode="json"), characters=characters, style=self.params.style
        )
        seed = ctx.seed
        if self.params.seed_by == "character" and shot.characters:
            seed = derive_seed(ctx.run_seed, f"character:{shot.characters[0]}")
        if shot.take:  # a re-roll: a new seed for this shot alone
            seed = derive_seed(seed, f"take:{shot.take}")
        before = previous.media.path if previous is not None else None
        path = await self.video.render(shot, shot.scene_index, prompt, seed, ctx.path(shot.id), before, self.params.continuity,
                                       cast=cast)  # fmt: skip
        media = Artifact(name=f"shots/{shot.id}{path.suffix}", media_type=media_type(path), path=path)
        return ShotVisual(shot_id=shot.id, media=media, is_clip=media.media_type.startswith("video/"))


def shown(shot: Shot, story: Story) -> list[Character]:
    """The cast members a shot shows, as the story's cast describes them: what its picture is drawn (and keyed) from."""
    return [c for c in story.characters if c.name in shot.characters]
