"""`SplitScenes`: a `Story` -> its scenes, in order (one LLM call)."""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import StoryforgeError
from storyforge.models import SceneList, Story


class SplitScenes(Stage):
    uses = ("llm",)
    prompts = ("split_scenes",)
    export = "scenes.json"

    class Params(Params):
        target_words: int = 220  # scene length to aim for when the story has no explicit breaks

    async def run(self, ctx: RunContext, story: Story) -> SceneList:
        prompt = ctx.prompts.render(
            "split_scenes", story=story.model_dump(), target_words=self.params.target_words, schema=SceneList.model_json_schema()
        )
        scenes = await self.llm.generate(
            "split_scenes", prompt, SceneList, {"story": story, "target_words": self.params.target_words}
        )
        if not scenes.scenes:
            raise StoryforgeError("scene splitting returned no scenes.", "check the story text or the split_scenes prompt.")
        return scenes
