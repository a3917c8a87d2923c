"""`llm=openai`: any OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, Together, ...)
through the official `openai` SDK's async client.

`base_url` and `model` come from config, defaulting to the SDK's own `OPENAI_BASE_URL`; the key is read from
the environment variable named by `api_key_env` (default `OPENAI_API_KEY`) and never enters config, cache keys
or manifests. The SDK retries 429 and 5xx with exponential backoff (`request_retries`); each call has a timeout.
With `output_format=json` the request carries a JSON-schema `response_format`; a server that refuses it is
asked again without it, and the parser (code fences, prose, JSON or TOON, re-asks) does the rest.
"""

from __future__ import annotations

import os

from storyforge.engine.contract import knob
from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.llm.base import LLMBackend, Reply
from storyforge.services.protocols import T


class OpenAILLM(LLMBackend):
    provider = ModelProvider.openai

    class Params(LLMBackend.Params):
        model: str  # model name as the server knows it, e.g. Qwen/Qwen2.5-7B-Instruct
        base_url: str | None = None  # server URL ending in /v1; None: OPENAI_BASE_URL, else the SDK's default
        api_key_env: str = knob("OPENAI_API_KEY", "Environment variable holding the API key (local servers need none)")
        temperature: float = 0.2  # sampling temperature
        max_tokens: int = 2048  # longest answer
        json_schema: bool = True  # send response_format=json_schema when output_format is json
        timeout_s: float = knob(120.0, "Seconds before one request is abandoned")
        request_retries: int = knob(4, "Retries with backoff on 429, 5xx and connection errors")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._client = None
        self._schema_ok = self.params.json_schema

    def fingerprint(self) -> dict:
        return {**super().fingerprint(), "base_url": self.params.base_url or os.environ.get("OPENAI_BASE_URL")}

    def _get_client(self):
        if self._client is None:
            try:
                from openai import AsyncOpenAI
            except ImportError as exc:
                raise StoryforgeError("llm=openai needs the openai SDK.", "pip install 'storyforge[llm]'.") from exc
            self._client = AsyncOpenAI(
                base_url=self.params.base_url or os.environ.get("OPENAI_BASE_URL") or None,
                api_key=os.environ.get(self.params.api_key_env) or "not-needed",
                timeout=self.params.timeout_s,
                max_retries=self.params.request_retries,
            )
        return self._client

    async def complete(self, messages: list[dict[str, str]], schema: type[T]) -> Reply:
        import openai

        p = self.params
        request = {"model": p.model, "messages": messages, "temperature": p.temperature, "max_tokens": p.max_tokens}
        async with self.limiter:
            try:
                if self._schema_ok and p.output_format == "json":
                    schema_format = {
                        "type": "json_schema",
                        "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
                    }
                    try:
                        return _reply(await self._get_client().chat.completions.create(**request, response_format=schema_format))
                    except openai.BadRequestError:
                        self._schema_ok = False  # this server does not take response_format: rely on the parser
                return _reply(await self._get_client().chat.completions.create(**request))
            except openai.APIConnectionError as exc:
                raise StoryforgeError(
                    f"cannot reach the LLM server at {self._get_client().base_url}: {exc}.",
                    "start it, or set llm.base_url / OPENAI_BASE_URL.",
                ) from exc
            except openai.APIStatusError as exc:
                raise StoryforgeError(
                    f"the LLM server answered {exc.status_code}: {exc.message}.", "check llm.model and the server's logs."
                ) from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def _reply(response) -> Reply:
    usage = response.usage
    return Reply(
        text=response.choices[0].message.content or "",
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
    )
