"""`RenderShot`: one shot -> its picture (a still or a clip), fanned out with `for_each: shots`.

The image prompt carries the story bible's description of every character in the shot, so a character looks
the same in every shot. Seeds come from (run seed, shot id), or with `seed_by: character` from (run seed, the
first character in the shot), so a character is drawn from the same noise wherever they appear. A shot's
`take` (a re-roll from the studio or `stages.shots.edits`) derives a new seed from that one.

With the cast sheet (`portraits`, storyforge/stages/portraits.py) the service gets each shown character's
reference picture; a service that draws from them (`video.identity=ip_adapter`: its `conditions_on_cast` is
true) keys each shot on those pictures too, so a new portrait redraws exactly the shots that show that character.

With `continuity: last_frame | keyframe`, the shots of a scene run in order and each gets the picture of the
one before (the engine's `chain`): editing a shot re-renders it and the shots after it in its scene.
"""

from __future__ import annotations

from typing import Literal

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.engine.runner import derive_seed
from storyforge.media import media_type
from storyforge.models import Artifact, Character, Portrait, Shot, ShotType, ShotVisual, Story

STYLE = "storybook illustration, soft light"  # the default look of every picture (shots and portraits)
WHOLE_FIGURE = {ShotType.establishing, ShotType.wide}  # shots that take a full-body reference when there is one


class RenderShot(Stage):
    uses = ("video",)
    prompts = ("shot_image",)

    version = "2"  # 2: takes (re-rolled seeds); keyed on the characters the shot shows, not the whole cast

    class Params(Params):
        style: str = STYLE  # look appended to every image prompt
        continuity: Literal["none", "keyframe", "last_frame"] = "none"  # what carries from shot to shot in a scene
        seed_by: Literal["shot", "character"] = "shot"  # character: one seed per character, wherever they appear

    def key_view(self, inputs: dict) -> dict:
        """Only the characters the shot shows (their look, not their voice), and their reference pictures when the
        service draws from them."""
        shot, cast = inputs["shot"], shown(inputs["shot"], inputs["story"])
        view: dict = {"story": [c.model_dump(mode="json", exclude={"voice", "image"}) for c in cast], "portraits": None}
        if "portraits" in inputs and self.video_conditions():  # else not drawn from them: not in the key at all
            refs = references(shot, cast, inputs["portraits"])
            used = self.video.drawn_from(shot, refs, inputs.get("previous") is not None, self.params.continuity)
            view["portraits"] = {name: refs[name].sha256 for name in used}
        return view

    def video_conditions(self) -> bool:
        return bool(getattr(self.video, "conditions_on_cast", False))

    def chain(self) -> str | None:
        return "scene_index" if self.params.continuity != "none" else None

    async def run(self, ctx: RunContext, shot: Shot, story: Story, previous: ShotVisual | None = None,
                  portraits: list[Portrait] | None = None) -> ShotVisual:  # fmt: skip
        cast = shown(shot, story)
        characters = [c.model_dump(exclude={"voice", "image"}) for c in cast]  # a voice is not drawn
        prompt = ctx.prompts.render(
            "shot_image", shot=shot.model_dump(mode="json"), characters=characters, style=self.params.style
        )
        seed = ctx.seed
        if self.params.seed_by == "character" and shot.characters:
            seed = derive_seed(ctx.run_seed, f"character:{shot.characters[0]}")
        if shot.take:  # a re-roll: a new seed for this shot alone
            seed = derive_seed(seed, f"take:{shot.take}")
        before = previous.media.path if previous is not None else None
        refs = {n: r.path for n, r in references(shot, cast, portraits or []).items()}
        path = await self.video.render(shot, shot.scene_index, prompt, seed, ctx.path(shot.id), before, self.params.continuity,
                                       cast=cast, references=refs)  # fmt: skip
        media = Artifact(name=f"shots/{shot.id}{path.suffix}", media_type=media_type(path), path=path)
        used = self.video.drawn_from(shot, refs, before is not None, self.params.continuity) if self.video_conditions() else {}
        return ShotVisual(shot_id=shot.id, media=media, is_clip=media.media_type.startswith("video/"), conditioned_on=list(used))

    def report(self, output: ShotVisual) -> dict:
        return {"conditioned_on": output.conditioned_on} if output.conditioned_on else {}


def shown(shot: Shot, story: Story) -> list[Character]:
    """The cast members a shot shows, as the story's cast describes them: what its picture is drawn (and keyed) from."""
    return [c for c in story.characters if c.name in shot.characters]


def references(shot: Shot, cast: list[Character], portraits: list[Portrait]) -> dict[str, Artifact]:
    """Each shown character's reference picture, in `cast` order: the full-body view for wide and establishing
    shots when the cast sheet has one, else the front view."""
    by_name = {p.name: p for p in portraits}
    return {c.name: p.full_body if p.full_body is not None and shot.shot_type in WHOLE_FIGURE else p.front
            for c in cast if (p := by_name.get(c.name)) is not None}  # fmt: skip
