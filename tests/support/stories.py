"""A story as the pipeline's first stage reads it, without running the engine."""

from __future__ import annotations

import anyio

from storyforge.engine.contract import PromptSet, RunContext
from storyforge.models import Story, StoryInput
from storyforge.resources import resource_dir
from storyforge.services.llm.heuristic import HeuristicLLM
from storyforge.stages.ingest import Ingest


def ingest(text: str, budget: int = 6000, summarize: str = "auto", source: str = "story.txt") -> Story:
    """`text` through the Ingest stage with the rule-based planner and an LLM context budget of `budget` tokens."""
    stage = Ingest(Ingest.Params(summarize=summarize), {"llm": HeuristicLLM(context_budget=budget)})
    ctx = RunContext(stage="story", item="", seed=0, scratch=None, prompts=PromptSet(resource_dir("conf") / "prompts" / "v1"))
    return anyio.run(stage.run, ctx, StoryInput(text=text, source=source))
