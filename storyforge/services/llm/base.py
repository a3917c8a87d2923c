"""What every LLM backend shares: concurrency (raised by `LLM_PARALLEL=true`), the answer format, and the
re-ask loop: a reply that does not parse or validate is sent back with the error, up to `max_retries` times."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from storyforge.engine.contract import Service, knob
from storyforge.errors import StoryforgeError
from storyforge.services.llm.output import ReplyError, parse_reply, schema_hint
from storyforge.services.protocols import T


@dataclass
class Reply:
    """One completion: its text and token counts."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LLMOutputError(StoryforgeError):
    """The model never produced a valid answer; `raw_output` holds its last reply (saved to the run dir)."""

    def __init__(self, problem: str, fix: str, raw_output: str) -> None:
        super().__init__(problem, fix)
        self.raw_output = raw_output


class LLMBackend(Service):
    class Params(Service.Params):
        max_concurrency: int = knob(1, "Calls at once when LLM_PARALLEL is off")
        parallel: bool = knob(False, "LLM_PARALLEL: allow parallel_limit calls at once")
        parallel_limit: int = knob(8, "Calls at once when parallel is on")
        max_retries: int = knob(3, "MAX_RETRIES: re-asks after an answer that does not validate")
        output_format: Literal["json", "toon"] = "json"  # format the model is asked to answer in
        context_budget: int = 6000  # tokens of story text one prompt may carry (longer stories are chunked)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.usage: list[dict] = []  # one record per call (task, tokens, seconds), copied into the run manifest

    @property
    def concurrency(self) -> int:
        return self.params.parallel_limit if self.params.parallel else self.params.max_concurrency

    token_counter = "estimate"  # "tokenizer" where the backend counts with the model's own tokenizer

    async def count_tokens(self, texts: list[str]) -> list[int]:
        """Length of each text in the model's tokens. Without a tokenizer: an estimate that errs long (about
        four characters or three quarters of a word per token, whichever gives more)."""
        return [max(len(t) // 4, len(t.split()) * 4 // 3) + 1 for t in texts]

    async def complete(self, messages: list[dict[str, str]], schema: type[T]) -> Reply:
        """One chat completion. Backends that generate text implement this; rule-based ones override generate."""
        raise StoryforgeError(f"{type(self).__name__} cannot complete chat messages.", "use a backend that generates text.")

    async def generate(self, task: str, prompt: str, schema: type[T], context: dict[str, Any]) -> T:
        fmt = self.params.output_format
        messages = [{"role": "system", "content": schema_hint(schema, fmt)}, {"role": "user", "content": prompt}]
        reply = Reply("")
        for attempt in range(self.params.max_retries + 1):
            started = time.perf_counter()
            reply = await self.complete(messages, schema)
            self.usage.append(
                {
                    "task": task,
                    "attempt": attempt + 1,
                    "format": fmt,
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "seconds": round(time.perf_counter() - started, 3),
                }
            )
            try:
                return parse_reply(reply.text, schema, fmt)
            except ReplyError as exc:
                error = str(exc)
            messages += [
                {"role": "assistant", "content": reply.text},
                {
                    "role": "user",
                    "content": f"That answer could not be used: {error[:600]}. Answer again with only the {fmt.upper()} data.",
                },
            ]
        raise LLMOutputError(
            f"{task}: the model's answer did not validate after {self.params.max_retries + 1} attempts ({error[:300]}).",
            "raise MAX_RETRIES, try llm.output_format=json, or use a stronger model; the last answer is saved in the run directory.",
            reply.text,
        )
