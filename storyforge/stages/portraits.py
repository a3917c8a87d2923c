"""`DrawPortrait`: the cast sheet, one reference portrait per character (`for_each: cast`), drawn once by the
video service's keyframe model from the character's description and cached per character.

A head-and-shoulders front view always; with `full_body: true` a head-to-toe view too, which identity
conditioning uses for wide and establishing shots. A character the user gave a picture for (`cast.<name>.image`)
has that picture as their front view and nothing is drawn. Editing a character's description redraws exactly
their portrait: each is keyed on its own character (and seeded from the character's id, so the same look draws
the same face whatever the story around it).
"""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.engine.runner import derive_seed
from storyforge.media import media_type
from storyforge.models import Artifact, Character, Portrait
from storyforge.stages.visuals import STYLE


class DrawPortrait(Stage):
    uses = ("video",)
    prompts = ("portrait",)

    class Params(Params):
        style: str = STYLE  # look appended to every portrait prompt (keep it the shots' style)
        full_body: bool = False  # also draw a head-to-toe view (used for wide and establishing shots)

    def service_key(self, name: str, fingerprint: dict) -> dict:
        """What the service draws portraits with (its `portrait_fingerprint`), when it says."""
        narrow = getattr(self.video, "portrait_fingerprint", None)
        return narrow() if narrow else fingerprint

    def key_view(self, inputs: dict) -> dict:
        character = inputs["character"]
        return {"character": character.model_dump(mode="json", exclude={"voice", "mentions"})}  # a voice is not drawn

    async def run(self, ctx: RunContext, character: Character) -> Portrait:
        if character.image is not None:
            return Portrait(name=character.name, front=character.image, source="user")
        views = ["front", "full_body"] if self.params.full_body else ["front"]
        drawn: dict[str, Artifact] = {}
        seed = derive_seed(ctx.run_seed, f"character:{character.name}")  # the seed RenderShot's seed_by=character uses
        for view in views:
            prompt = ctx.prompts.render("portrait", character=character.model_dump(exclude={"voice", "image"}),
                                        view=view, style=self.params.style)  # fmt: skip
            name = ctx.item if view == "front" else f"{ctx.item}_{view}"  # the item: unique even when two names share an id
            path = await self.video.portrait(character, prompt, seed, ctx.path(name), view)
            drawn[view] = Artifact(name=f"cast/{name}{path.suffix}", media_type=media_type(path), path=path)
        return Portrait(name=character.name, front=drawn["front"], full_body=drawn.get("full_body"))
