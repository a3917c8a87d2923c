"""`PlanShots`: one scene -> its shots (one LLM call per scene, fanned out with `for_each: scenes`).

The narration of a story video is the story's own text. When the model's shots narrate less than
`min_coverage` of the scene's words, `on_low_coverage=fallback` keeps the model's framing, camera and pictures
and gives the shots the scene's sentences instead (all shots planned by rules when the model gave none);
`fail` stops with a clear error; `accept` keeps the answer. The manifest records coverage and any repair.

Whatever planned the shots, who speaks each quotation is read from the scene as a whole (storyforge.reading
.dialogue) and recorded on the shots (`Shot.speech`, with the reason: tag, cue, beat, alternation, unknown).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from storyforge import rules
from storyforge import text as tx
from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import StoryforgeError
from storyforge.models import Scene, ScenePlan, Story, VoiceType


class PlanShots(Stage):
    version = "2"  # 2: speakers recorded per shot; planned lengths at the language's reading rate
    uses = ("llm",)
    prompts = ("plan_shots",)

    class Params(Params):
        shot_words: int = 35  # narration words per shot to aim for
        words_per_minute: float | None = None  # reading speed for planned durations; None: the language's
        # (storyforge.text.WORDS_PER_MINUTE). Once narrated, a shot lasts as long as its speech.
        min_coverage: float = 0.8  # share of the scene's words the shots must narrate, in order
        on_low_coverage: Literal["fallback", "fail", "accept"] = "fallback"

    async def run(self, ctx: RunContext, story: Story, scene: Scene) -> ScenePlan:
        p = self.params
        wpm = p.words_per_minute or tx.words_per_minute(story.language)
        context = {"story": story, "scene": scene, "shot_words": p.shot_words, "words_per_minute": wpm}
        prompt = ctx.prompts.render(
            "plan_shots",
            title=story.title,
            characters=[c.model_dump() for c in story.characters],
            scene=scene.model_dump(),
            shot_words=p.shot_words,
            schema=ScenePlan.model_json_schema(),
        )
        plan = await self.llm.generate("plan_shots", prompt, ScenePlan, context)
        cov = rules.coverage(scene.text, [s.narration for s in plan.shots])
        repair = ""
        if cov < p.min_coverage and p.on_low_coverage == "fail":
            raise StoryforgeError(
                f"the shots the model planned for scene {scene.id} narrate {cov:.0%} of its text "
                f"(stages.plan.min_coverage={p.min_coverage}).",
                "use a stronger model, or set stages.plan.on_low_coverage=fallback to narrate the scene's own text.",
            )
        if cov < p.min_coverage and p.on_low_coverage == "fallback":
            if plan.shots:
                plan, repair = rules.narrate_from_text(plan, scene, wpm), "narration from the scene text"
            else:
                plan, repair = rules.plan_shots(story, scene, p.shot_words, wpm), "shots planned by rules"
            ctx.log.warning("plan_shots %s: the model's shots narrate %.0f%% of the scene; %s.", scene.id, cov * 100, repair)
        for i, shot in enumerate(plan.shots, start=1):  # ids come from position, whatever the model said
            shot.scene_index, shot.index = scene.index, i
        plan = rules.assign_speech(plan, scene, story)
        reasons = Counter(u.reason for shot in plan.shots for u in shot.speech if u.voice == VoiceType.dialogue)
        checks = {"coverage": round(cov, 3), "repair": repair, "speakers": dict(sorted(reasons.items()))}
        return plan.model_copy(update={"scene_index": scene.index, "checks": checks})

    def report(self, output: ScenePlan) -> dict:
        return {"shots": len(output.shots), **output.checks}
