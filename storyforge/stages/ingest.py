"""`Ingest`: raw story text -> a cleaned `Story` with its structure, its chunks and its cast (the story bible).

Cleaning and structure are rules (storyforge.reading.structure): front and back matter, licence blocks and
markup come out, the title, author and source lines are recorded instead of narrated, and chapters, scene
breaks, paragraphs and play cues are found as a reader would. The text is cut into chunks that fit the LLM's
`context_budget` (counted with the model's tokenizer where the backend has one), along section and paragraph
boundaries. The cast and summary come from the LLM: in one call when the story fits one chunk; otherwise, as
`summarize` says, map-reduce (a bible and summary per chunk, merged; the summaries reduced to one) or from the
first chunk alone (`never`, logged as a warning). `always` summarises even a story that fits.

Before any call the budget is checked against the model's context (`llm.check_budget`). A model's bible loses
cast members the story never names and copied descriptions (storyforge.annotations). With `llm.role=annotate`
the rules find the cast and places and the model is asked only their looks, by exactly those names; summaries
are the rules' too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from storyforge import annotations, rules
from storyforge import text as tx
from storyforge.engine.contract import Params, RunContext, Stage, gather
from storyforge.errors import LLMOutputError, StoryforgeError
from storyforge.models import Character, Chunk, Looks, Section, Story, StoryBible, StoryInput, Summary
from storyforge.reading import cast, structure


class Ingest(Stage):
    version = "2"  # 2: structure detection (front matter, chapters with subtitles, indented paragraphs, cues)
    uses = ("llm",)
    prompts = ("story_bible", "summarize", "story_looks")
    export = "story.json"

    class Params(Params):
        summarize: Literal["auto", "always", "never"] = "auto"  # map-reduce the cast and summary over chunks
        language: str | None = None  # ISO 639-1 code of the story; None: from the script (Devanagari -> hi)

    async def run(self, ctx: RunContext, source: StoryInput) -> Story:
        doc = structure.read(source.text)
        sections = [Section(heading=h, paragraphs=ps) for h, ps in doc.sections]
        body = "\n\n\n".join("\n\n".join(s.paragraphs) for s in sections)
        if not tx.words(body):
            raise StoryforgeError(
                f"the story '{source.source}' has no text left to narrate after cleaning"
                + (f" (taken out as front or back matter: {'; '.join(doc.dropped)[:200]})" if doc.dropped else "")
                + ".",
                "give a file with prose in it.",
            )
        title = doc.title or Path(source.source).stem.replace("_", " ").title()
        language = self.params.language or tx.language(body)
        budget = self.llm.params.context_budget
        await self.llm.check_budget()  # before any call: a budget the model cannot read is a configuration error
        chunks = await self._chunks(sections, budget)
        cues = list(dict.fromkeys(doc.cues.values()))  # a play's cast
        story = Story(title=title, author=doc.author, sources=doc.sources, text=body, language=language,
                      sections=sections, chunks=chunks, tokens=sum(c.tokens for c in chunks), cues=doc.cues)  # fmt: skip
        mode = self.params.summarize
        if len(chunks) == 1 and mode != "always":
            bible = await self._bible(ctx, title, body, language, cues)
        elif mode == "never":
            ctx.log.warning(
                "%s: %d tokens is over llm.context_budget=%d and stages.story.summarize=never: the cast and summary come "
                "from the first %d tokens only.", title, story.tokens, budget, chunks[0].tokens
            )  # fmt: skip
            bible = await self._bible(ctx, title, chunks[0].text, language, cues)
        else:
            bibles = await gather(lambda c: self._bible(ctx, title, c.text, language, cues), chunks)
            for chunk, part in zip(chunks, bibles, strict=True):
                chunk.summary = part.summary
            summary = await self._reduce(ctx, title, [c.summary for c in chunks if c.summary], budget)
            bible = rules.merge_bibles(bibles, summary)
            story.summarized = True
        story = story.model_copy(update=dict(bible))  # fields as models, not dicts
        story.narrator = cast.narrator(body, {c.name: c.aliases for c in story.characters})  # "I said" means them
        if story.narrator not in ("", "I", *(c.name for c in story.characters)):
            story.characters.append(Character(name=story.narrator, description="the narrator", mentions=1))
        return story

    def report(self, story: Story) -> dict:
        return {
            "tokens": story.tokens,
            "token_counter": self.llm.token_counter,
            "context_budget": self.llm.params.context_budget,
            "chunks": [c.tokens for c in story.chunks],
            "summarized": [c.index for c in story.chunks if c.summary] if story.summarized else [],
        }

    async def _bible(self, ctx: RunContext, title: str, text: str, language: str, cues: list[str]) -> StoryBible:
        context = {"title": title, "text": text, "language": language, "cues": cues}
        if self.llm.params.role == "annotate":  # the rules find who and where; the model says what they look like
            bible = rules.story_bible(**context)
            if not bible.characters and not bible.locations:
                return bible
            names, places = [c.name for c in bible.characters], [p.name for p in bible.locations]
            prompt = ctx.prompts.render("story_looks", title=title, text=text, language=language, characters=names,
                                        places=places, schema=Looks.model_json_schema())  # fmt: skip
            shape = annotations.looks_shape(names, places)
            try:
                looks = await self.llm.generate("story_looks", prompt, Looks, {**context, "bible": bible}, shape)
            except LLMOutputError as exc:  # the rules' looks stay; the run goes on
                ctx.log.warning("story_looks: %s The rules' descriptions stay.", exc.problem)
                return bible
            return annotations.apply_looks(bible, looks, prompt.replace(text, ""))[0]  # a story sentence is a fair look
        prompt = ctx.prompts.render(
            "story_bible", title=title, text=text, language=language, schema=StoryBible.model_json_schema()
        )
        bible = await self.llm.generate("story_bible", prompt, StoryBible, context)
        return annotations.clean_bible(bible, text)

    async def _reduce(self, ctx: RunContext, title: str, summaries: list[str], budget: int) -> str:
        """Summaries of consecutive parts -> one, in as many rounds as the budget needs."""
        if self.llm.params.role == "annotate" and len(summaries) > 1:  # the model retells nothing
            return rules.summarize(" ".join(summaries))
        while len(summaries) > 1:
            sizes = await self.llm.count_tokens(summaries)
            groups = pack(list(zip(summaries, sizes, strict=True)), budget)
            if len(groups) == len(summaries) and len(groups) > 1:  # pairs do not fit: the budget is too small
                groups = [summaries[i : i + 2] for i in range(0, len(summaries), 2)]
            summaries = []
            for group in groups:
                text = "\n\n".join(group)
                prompt = ctx.prompts.render("summarize", title=title, text=text, schema=Summary.model_json_schema())
                summaries.append((await self.llm.generate("summarize", prompt, Summary, {"text": text})).summary)
        return summaries[0] if summaries else ""

    async def _chunks(self, sections: list[Section], budget: int) -> list[Chunk]:
        """Sections packed into chunks of at most `budget` tokens. A section that would straddle a boundary
        starts a new chunk when it fits in one; a longer one is cut between paragraphs (or sentences)."""
        units = [_Unit(si, p, pi == 0) for si, s in enumerate(sections) for pi, p in enumerate(s.paragraphs)]
        for unit, n in zip(units, await self.llm.count_tokens([u.text for u in units]), strict=True):
            unit.tokens = n
        if any(u.tokens > budget for u in units):  # cut over-long paragraphs into sentences
            units = [
                _Unit(u.section, t, u.opens and j == 0)
                for u in units
                for j, t in enumerate(tx.sentences(u.text) if u.tokens > budget else [u.text])
            ]
            for unit, n in zip(units, await self.llm.count_tokens([u.text for u in units]), strict=True):
                unit.tokens = n
        section_tokens = [sum(u.tokens for u in units if u.section == si) for si in range(len(sections))]
        groups: list[list[_Unit]] = [[]]
        used = 0
        for u in units:
            whole_section_moves = u.opens and used + section_tokens[u.section] > budget >= section_tokens[u.section]
            if groups[-1] and (used + u.tokens > budget or whole_section_moves):
                groups.append([])
                used = 0
            groups[-1].append(u)
            used += u.tokens
        chunks = []
        for i, group in enumerate(groups, start=1):
            parts = []
            for si, members in itertools.groupby(group, key=lambda u: u.section):
                members = list(members)
                heading = sections[si].heading if members[0].opens else ""
                parts.append(Section(heading=heading, paragraphs=[u.text for u in members]))
            chunks.append(Chunk(index=i, sections=parts, tokens=sum(u.tokens for u in group)))
        return chunks


@dataclass
class _Unit:
    """A paragraph (or sentence) on its way into a chunk."""

    section: int
    text: str
    opens: bool  # first unit of its section: carries the heading
    tokens: int = 0


def pack(items: list[tuple[str, int]], budget: int) -> list[list[str]]:
    """Consecutive items grouped so each group's tokens stay within `budget` (an item over it stands alone)."""
    groups: list[list[str]] = [[]]
    used = 0
    for text, n in items:
        if groups[-1] and used + n > budget:
            groups.append([])
            used = 0
        groups[-1].append(text)
        used += n
    return groups
