"""`PlanShots`: one scene -> its shots (one LLM call per scene, fanned out with `for_each: scenes`).

The narration of a story video is the story's own text. When the model's shots narrate less than
`min_coverage` of the scene's words, `on_low_coverage=fallback` cuts the scene's own sentences into shots of
`shot_words` by rules and spreads the model's framing, camera and pictures over them in order (all shots by
rules when the model gave none); `fail` stops with a clear error; `accept` keeps the answer. A picture the model
copied from the schema or the prompt is replaced by the rules' picture (storyforge.annotations). The manifest
records coverage and any repair.

With `llm.role=annotate` (small models) the model is not asked to narrate at all: the rules cut the shots and
the model only describes each one (picture, framing, camera, mood); `annotated` counts the shots whose picture
is the model's own.

Whatever planned the shots, who speaks each quotation is read from the scene as a whole (storyforge.reading
.dialogue) and recorded on the shots (`Shot.speech`, with the reason: tag, cue, beat, alternation, unknown).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from storyforge import annotations, rules
from storyforge import text as tx
from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import LLMOutputError, StoryforgeError
from storyforge.models import Scene, ScenePlan, ShotNotes, Story, VoiceType

NOTES_AT_ONCE = 8  # shots a model describes in one answer (llm.role=annotate)


class PlanShots(Stage):
    version = "2"  # 2: speakers recorded per shot; planned lengths at the language's reading rate
    uses = ("llm",)
    prompts = ("plan_shots", "annotate_shots")

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
        if self.llm.params.role == "annotate":
            return await self._annotate(ctx, story, scene, context)
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
                planned = rules.plan_shots(story, scene, p.shot_words, wpm)
                plan, repair = _pictures_onto(planned, plan, prompt), "narration from the scene text"
            else:
                plan, repair = rules.plan_shots(story, scene, p.shot_words, wpm), "shots planned by rules"
            ctx.log.warning("plan_shots %s: the model's shots narrate %.0f%% of the scene; %s.", scene.id, cov * 100, repair)
        else:
            plan = _own_pictures(plan, scene, prompt)
        return self._finish(plan, scene, story, {"coverage": round(cov, 3), "repair": repair})

    async def _annotate(self, ctx: RunContext, story: Story, scene: Scene, context: dict) -> ScenePlan:
        """`llm.role=annotate`: shots cut by rules from the scene's own words; the model describes them,
        `NOTES_AT_ONCE` at a time (a long scene's notes would outgrow a small model's answer). Where its answer
        never validates, the rules' pictures stay: the run goes on, the manifest says so."""
        plan = rules.plan_shots(story, scene, self.params.shot_words, context["words_per_minute"])
        shots, own, repair = list(plan.shots), 0, ""
        for start in range(0, len(shots), NOTES_AT_ONCE):
            batch = plan.model_copy(update={"shots": shots[start : start + NOTES_AT_ONCE]})
            shown = {n for s in batch.shots for n in s.characters}
            prompt = ctx.prompts.render(
                "annotate_shots", title=story.title, scene=scene.model_dump(), shots=[s.model_dump() for s in batch.shots],
                characters=[c.model_dump() for c in story.characters if c.name in shown], schema=ShotNotes.model_json_schema(),
            )  # fmt: skip
            shape = annotations.notes_shape(len(batch.shots))
            try:
                notes = await self.llm.generate("annotate_shots", prompt, ShotNotes, {**context, "plan": batch}, shape)
            except LLMOutputError as exc:
                ctx.log.warning("annotate_shots %s: %s The rules' pictures stay.", scene.id, exc.problem)
                repair = "the model's notes never validated: the rules' pictures"
                continue
            batch, taken = annotations.apply_notes(batch, notes, prompt)
            shots[start : start + len(batch.shots)] = batch.shots
            own += taken
        plan = plan.model_copy(update={"shots": shots})
        return self._finish(plan, scene, story, {"coverage": 1.0, "repair": repair, "annotated": own})

    def _finish(self, plan: ScenePlan, scene: Scene, story: Story, checks: dict) -> ScenePlan:
        for i, shot in enumerate(plan.shots, start=1):  # ids come from position, whatever the model said
            shot.scene_index, shot.index = scene.index, i
        plan = rules.assign_speech(plan, scene, story)
        reasons = Counter(u.reason for shot in plan.shots for u in shot.speech if u.voice == VoiceType.dialogue)
        checks["speakers"] = dict(sorted(reasons.items()))
        return plan.model_copy(update={"scene_index": scene.index, "checks": checks})

    def report(self, output: ScenePlan) -> dict:
        return {"shots": len(output.shots), **output.checks}


def _junk(plan: ScenePlan, prompt: str) -> list[bool]:
    sources = [*annotations.descriptions(ScenePlan.model_json_schema()), prompt]
    return [annotations.boilerplate(s.description, sources) for s in plan.shots]


def _pictures_onto(planned: ScenePlan, answer: ScenePlan, prompt: str) -> ScenePlan:
    """The rules' shots (the scene's own words at the shot length asked for) with the model's framing, camera
    and pictures spread over them in order, where its picture is its own; the rules' picture elsewhere."""
    junk = _junk(answer, prompt)
    shots = []
    for i, shot in enumerate(planned.shots):
        j = i * len(answer.shots) // len(planned.shots)
        theirs = answer.shots[j]
        if not junk[j]:
            shot = shot.model_copy(
                update={"shot_type": theirs.shot_type, "camera": theirs.camera, "description": theirs.description}
            )
        shots.append(shot)
    return planned.model_copy(update={"shots": shots})


def _own_pictures(plan: ScenePlan, scene: Scene, prompt: str) -> ScenePlan:
    """Pictures the model copied (from the schema or the prompt) are replaced by the rules' picture for the same
    words; the model's framing stays."""
    junk = _junk(plan, prompt)
    if not any(junk):
        return plan
    shots = [s.model_copy() for s in plan.shots]
    for i in (i for i, bad in enumerate(junk) if bad):
        shots[i].description = rules.picture(tx.sentences(shots[i].narration) or [shots[i].narration], shots[i].shot_type,
                                             scene.location)  # fmt: skip
    return plan.model_copy(update={"shots": shots})
