"""`SplitScenes`: a `Story` -> its scenes, in order: one LLM call per chunk of the story (one call for a story
that fits the context budget), run concurrently under the LLM's limiter and merged in story order.

A model may drop or rewrite part of the text (a 135M model drops most of it). Each chunk's scenes must
reproduce at least `min_coverage` of its words, in order; below that, `on_low_coverage` decides: `fallback`
splits that chunk by rules (logged, and recorded in the manifest), `fail` stops with a clear error, `accept`
keeps the model's answer. With `llm.role=annotate` the model is not asked: the rules split the story.
"""

from __future__ import annotations

from typing import Literal

from storyforge import rules
from storyforge.engine.contract import Params, RunContext, Stage, gather
from storyforge.errors import StoryforgeError
from storyforge.models import Chunk, Scene, SceneList, Story


class SplitScenes(Stage):
    version = "2"  # 2: long sections and paragraphs cut near target_words, never inside a quotation
    uses = ("llm",)
    prompts = ("split_scenes",)
    export = "scenes.json"

    class Params(Params):
        target_words: int = 220  # scene length to aim for (a section over twice this is cut near it)
        min_coverage: float = 0.9  # share of a chunk's words its scenes must reproduce, in order
        on_low_coverage: Literal["fallback", "fail", "accept"] = "fallback"

    async def run(self, ctx: RunContext, story: Story) -> SceneList:
        chunks = story.chunks or [Chunk(index=1, sections=story.sections, tokens=story.tokens)]
        parts = await gather(lambda i: self._split(ctx, story, chunks, i), range(len(chunks)))
        scenes = [scene for part, _, _ in parts for scene in part]
        scenes = [scene.model_copy(update={"index": i}) for i, scene in enumerate(scenes, start=1)]
        checks = {
            "coverage": [round(cov, 3) for _, cov, _ in parts],
            "fallback": [c.index for c, (_, _, fell_back) in zip(chunks, parts, strict=True) if fell_back],
        }
        return SceneList(scenes=scenes, checks=checks)

    def report(self, output: SceneList) -> dict:
        return {"scenes": len(output.scenes), **output.checks}

    async def _split(self, ctx: RunContext, story: Story, chunks: list[Chunk], i: int) -> tuple[list[Scene], float, bool]:
        """One chunk's scenes, with their coverage and whether the rules had to step in."""
        part = story if len(chunks) == 1 else story.model_copy(update={"text": chunks[i].text, "sections": chunks[i].sections})
        previously = " ".join(c.summary for c in chunks[:i] if c.summary)
        p = self.params
        if self.llm.params.role == "annotate":  # scenes keep the story's own words: cut by rules, no call
            return rules.split_scenes(part, p.target_words).scenes, 1.0, False
        prompt = ctx.prompts.render(
            "split_scenes", story=part.model_dump(), target_words=p.target_words, previously=previously,
            schema=SceneList.model_json_schema(),
        )  # fmt: skip
        answer = await self.llm.generate("split_scenes", prompt, SceneList, {"story": part, "target_words": p.target_words})
        cov = rules.coverage(part.text, [s.text for s in answer.scenes])
        if cov >= p.min_coverage or p.on_low_coverage == "accept":
            return answer.scenes, cov, False
        where = f"chunk {i + 1} of {len(chunks)}" if len(chunks) > 1 else "the story"
        if p.on_low_coverage == "fail":
            raise StoryforgeError(
                f"the scenes the model returned for {where} reproduce {cov:.0%} of its text "
                f"(stages.scenes.min_coverage={p.min_coverage}).",
                "use a stronger model, or set stages.scenes.on_low_coverage=fallback to split by rules.",
            )
        ctx.log.warning("split_scenes: the model's scenes cover %.0f%% of %s; split by rules instead.", cov * 100, where)
        return rules.split_scenes(part, p.target_words).scenes, cov, True
