"""`Ingest`: raw story text -> a cleaned `Story` with its structure and its cast (the story bible).

Cleaning and structure are rules (storyforge.text); the cast and summary come from the LLM service.
"""

from __future__ import annotations

from pathlib import Path

from storyforge import text as tx
from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import StoryforgeError
from storyforge.models import Section, Story, StoryBible, StoryInput


class Ingest(Stage):
    uses = ("llm",)
    prompts = ("story_bible",)
    export = "story.json"

    class Params(Params):
        prompt_chars: int = 12000  # story text put into the story-bible prompt (longer stories are cut)

    async def run(self, ctx: RunContext, source: StoryInput) -> Story:
        clean = tx.normalize(source.text)
        title, body = tx.split_title(clean)
        if not body.strip():
            raise StoryforgeError(
                f"the story '{source.source}' has no text left after cleaning.", "give a file with prose in it."
            )
        sections = [Section(heading=h, paragraphs=ps) for h, ps in tx.split_sections(body)]
        title = title or Path(source.source).stem.replace("_", " ").title()
        language = tx.language(body)
        prompt = ctx.prompts.render(
            "story_bible",
            title=title,
            text=body[: self.params.prompt_chars],
            language=language,
            schema=StoryBible.model_json_schema(),
        )
        bible = await self.llm.generate("story_bible", prompt, StoryBible, {"title": title, "text": body, "language": language})
        return Story(title=title, text=body, language=language, sections=sections, **bible.model_dump())
