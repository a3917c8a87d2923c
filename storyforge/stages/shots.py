"""`PlanShots`: one scene -> its shots (one LLM call per scene, fanned out with `for_each: scenes`)."""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.models import Scene, ScenePlan, Story


class PlanShots(Stage):
    uses = ("llm",)
    prompts = ("plan_shots",)

    class Params(Params):
        shot_words: int = 35  # narration words per shot to aim for
        words_per_minute: float = 160.0  # reading speed used to plan shot durations

    async def run(self, ctx: RunContext, story: Story, scene: Scene) -> ScenePlan:
        context = {
            "story": story,
            "scene": scene,
            "shot_words": self.params.shot_words,
            "words_per_minute": self.params.words_per_minute,
        }
        prompt = ctx.prompts.render(
            "plan_shots",
            title=story.title,
            characters=[c.model_dump() for c in story.characters],
            scene=scene.model_dump(),
            shot_words=self.params.shot_words,
            schema=ScenePlan.model_json_schema(),
        )
        plan = await self.llm.generate("plan_shots", prompt, ScenePlan, context)
        for i, shot in enumerate(plan.shots, start=1):  # ids come from position, whatever the model said
            shot.scene_index, shot.index = scene.index, i
        return plan.model_copy(update={"scene_index": scene.index})
