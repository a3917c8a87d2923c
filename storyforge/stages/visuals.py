"""`RenderShot`: one shot -> its picture (a still or a clip), fanned out with `for_each: shots`.

The image prompt carries the story bible's description of every character in the shot, so a character looks
the same in every shot.
"""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.media import media_type
from storyforge.models import Artifact, Shot, ShotVisual, Story


class RenderShot(Stage):
    uses = ("video",)
    prompts = ("shot_image",)

    reads = {"story": ("characters",)}

    class Params(Params):
        style: str = "storybook illustration, soft light"  # look appended to every image prompt

    async def run(self, ctx: RunContext, shot: Shot, story: Story) -> ShotVisual:
        cast = [c.model_dump() for c in story.characters if c.name in shot.characters]
        prompt = ctx.prompts.render("shot_image", shot=shot.model_dump(mode="json"), characters=cast, style=self.params.style)
        path = await self.video.render(shot, shot.scene_index, prompt, ctx.seed, ctx.path(shot.id))
        media = Artifact(name=f"shots/{shot.id}{path.suffix}", media_type=media_type(path), path=path)
        return ShotVisual(shot_id=shot.id, media=media, is_clip=media.media_type.startswith("video/"))
