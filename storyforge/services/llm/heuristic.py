"""`llm=heuristic`: a deterministic rule-based planner behind the LLM protocol. No weights, no network.

It does the same jobs as a language model from the structure of the text instead of the prompt; the rules live
in `storyforge.rules` (story bible, scene splits, shot plans, summaries).
"""

from __future__ import annotations

from typing import Any

from storyforge import rules
from storyforge.models import Look, Looks, ModelProvider, ShotNote, ShotNotes, Summary
from storyforge.services.llm.base import LLMBackend
from storyforge.services.protocols import T


class HeuristicLLM(LLMBackend):
    provider = ModelProvider.rules

    class Params(LLMBackend.Params):
        max_concurrency: int = 8  # rules are cheap: no reason to queue
        max_characters: int = 12  # cast size kept in the story bible
        max_locations: int = 6  # places kept in the story bible

    async def generate(self, task: str, prompt: str, schema: type[T], context: dict[str, Any], shape: dict | None = None) -> T:
        if task == "story_bible":
            answer = rules.story_bible(**context, max_characters=self.params.max_characters,
                                       max_locations=self.params.max_locations)  # fmt: skip
        elif task == "story_looks":  # llm.role=annotate: the rules' looks, as a model would give them
            bible = context["bible"]
            answer = Looks(characters=[Look(name=c.name, look=c.description) for c in bible.characters],
                           places=[Look(name=p.name, look=p.description) for p in bible.locations])  # fmt: skip
        elif task == "annotate_shots":
            answer = ShotNotes(
                shots=[
                    ShotNote(shot=i, picture=s.description, shot_type=s.shot_type, camera=s.camera, mood="")
                    for i, s in enumerate(context["plan"].shots, start=1)
                ]
            )
        elif task == "summarize":
            answer = Summary(summary=rules.summarize(context["text"]))
        else:
            answer = {"split_scenes": rules.split_scenes, "plan_shots": rules.plan_shots}[task](**context)
        return schema.model_validate(answer.model_dump())
