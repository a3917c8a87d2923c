"""`llm=openai`: any OpenAI-compatible chat-completions server (vLLM, llama.cpp's llama-server, llama-cpp-python's
server, Ollama, LM Studio, hosted APIs) through the official `openai` SDK's async client.

`base_url` and `model` come from config, defaulting to the SDK's own `OPENAI_BASE_URL`; the key is read from
the environment variable named by `api_key_env` (default `OPENAI_API_KEY`) and never enters config, cache keys
or manifests.

Structured output is negotiated per server and model (storyforge.services.llm.structured): the first request
asks in the strongest form (`json_schema` for JSON, a GBNF `grammar` for TOON); a refusal that names the form,
whether 4xx or 5xx, moves on to the next, down to the prompt alone, and the form that worked is remembered in
the cache directory (`llm_modes.json`) for the next run. `structured=<mode>` pins one; `structured=prompt` sends
none.

Requests: 429, 502-504 and lost connections are retried with backoff (`request_retries`), each request waits
`timeout_s`, and a timeout is reported as one, never resent: a long generation sent again only queues behind
itself on a one-request-at-a-time server. The context is asked of the server where it says (vLLM's
`max_model_len`, llama-server's `n_ctx`), else `context_window`.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Literal

import anyio

from storyforge.engine.contract import knob
from storyforge.errors import ConfigError, StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.llm.base import LLMBackend, Reply
from storyforge.services.llm.structured import CONSTRAINING, ModeMemory, modes, refused, request_fields

log = logging.getLogger(__name__)
for _name in ("httpx", "openai"):  # one "HTTP Request:" line per call would drown the run's log
    logging.getLogger(_name).setLevel(logging.WARNING)
_RETRIED = {429, 502, 503, 504}
Mode = Literal["auto", "json_schema", "json_object_schema", "grammar", "guided_json", "guided_regex", "json_object", "prompt"]


class OpenAILLM(LLMBackend):
    provider = ModelProvider.openai

    class Params(LLMBackend.Params):
        model: str  # model name as the server knows it, e.g. Qwen/Qwen2.5-7B-Instruct
        base_url: str | None = None  # server URL ending in /v1; None: OPENAI_BASE_URL, else the SDK's default
        api_key_env: str = knob("OPENAI_API_KEY", "Environment variable holding the API key (local servers need none)")
        temperature: float = 0.2  # sampling temperature
        frequency_penalty: float = 0.0  # above 0 keeps a small model from repeating itself
        seed: int | None = 0  # sampling seed, for servers that take one (the same answer on a rerun); None: none
        max_tokens: int = 1024  # longest answer
        structured: Mode = "auto"  # structured-output form; auto: negotiated per server and model
        json_schema: bool | None = None  # deprecated: false is structured=prompt
        max_string_chars: int = 1200  # cap on every string where a grammar or regex constrains the answer
        max_items: int = 40  # cap on every list where a grammar or regex constrains the answer
        timeout_s: float = knob(300.0, "Seconds before one request is abandoned (a timeout is not resent)")
        request_retries: int = knob(4, "Retries with backoff on 429, 502-504 and lost connections")
        state_dir: str | None = knob(None, "Where the negotiated modes are remembered; None: the user's cache directory")

    def models(self) -> list[str]:
        return [self.params.model]  # as the server names it; a hosted model's terms are the provider's

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._client = None
        self._modes: dict[str, str] = {}  # format -> the mode this server and model took, this run
        self._dropped: set[tuple[str, str]] = set()  # (format, mode) refused or ignored by this server, this run
        self._saved: dict[str, str] = {}  # format -> the mode written to the memory file, this run
        self._window: int | bool | None = False  # False: not asked yet
        if self.params.json_schema is False and self.params.structured == "auto":
            self.params.structured = "prompt"

    def fingerprint(self) -> dict:
        return {**super().fingerprint(), "base_url": self.base_url}

    @property
    def base_url(self) -> str:
        return self.params.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    @property
    def answer_tokens(self) -> int:
        return self.params.max_tokens

    @functools.cached_property
    def _memory(self) -> ModeMemory:
        import platformdirs

        folder = Path(self.params.state_dir).expanduser() if self.params.state_dir else None
        return ModeMemory((folder or Path(platformdirs.user_cache_dir("storyforge"))) / "llm_modes.json")

    @property
    def _api_key(self) -> str:
        return os.environ.get(self.params.api_key_env) or "not-needed"

    def _memory_key(self, fmt: str) -> str:
        return f"{self.base_url.rstrip('/')} {self.params.model} {fmt}"

    def _get_client(self):
        if self._client is None:
            try:
                from openai import AsyncOpenAI
            except ImportError as exc:
                raise ConfigError("llm=openai needs the openai SDK.", "pip install 'storyforge[llm]'.") from exc
            self._client = AsyncOpenAI(
                base_url=self.base_url,
                api_key=self._api_key,
                timeout=self.params.timeout_s,
                max_retries=0,  # retried here, where a timeout is told from a busy server
            )
        return self._client

    async def context_window(self) -> int | None:
        if self._window is False:
            self._window = await self._ask_window()
        return self._window or self.params.context_window

    async def _ask_window(self) -> int | None:
        """The context the server reports: vLLM's /v1/models `max_model_len`, llama-server's /props `n_ctx`,
        LM Studio's `max_context_length`. None where it says nothing."""
        import httpx

        base = self.base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {self._api_key}"}
        async with httpx.AsyncClient(timeout=10, headers=headers) as http:
            for url in (f"{base}/models", f"{base.removesuffix('/v1')}/props"):
                try:
                    data = (await http.get(url)).json()
                except (httpx.HTTPError, ValueError):
                    continue
                for entry in [*(data.get("data") or []), data] if isinstance(data, dict) else []:
                    if isinstance(entry, dict) and entry.get("id", self.params.model) == self.params.model:
                        found = _window_of(entry)
                        if found:
                            return found
        return None

    async def complete(self, messages: list[dict[str, str]], shape: dict) -> Reply:
        p = self.params
        fmt = p.output_format
        if p.structured != "auto":
            try:
                return await self._ask(messages, shape, p.structured)
            except _Refused as refusal:
                raise ConfigError(
                    f"the LLM server at {self.base_url} does not take structured output as llm.structured="
                    f"{p.structured} ({refusal}).",
                    "set llm.structured=auto to find the form it takes, or name another one.",
                ) from refusal
        known = self._modes.get(fmt) or self._memory.get(self._memory_key(fmt))
        order = [m for m in modes(fmt) if (fmt, m) not in self._dropped]
        if known in order:
            order.remove(known)
            order.insert(0, known)
        for mode in order:
            try:
                reply = await self._ask(messages, shape, mode)
            except _Refused as refusal:
                log.info("llm: %s refuses structured output as %s (%s); trying the next form.", self.base_url, mode, refusal)
                self._dropped.add((fmt, mode))
                continue
            self._modes[fmt] = mode
            return reply
        raise AssertionError("the prompt-only mode is never refused")  # pragma: no cover

    def judged(self, reply: Reply, valid: bool, readable: bool) -> None:
        """A form is remembered once an answer asked in it validated. A server that honours a constraining form
        answers in the format whatever else goes wrong, so an answer that was not cut short and does not even read
        as JSON (or TOON) means the server ignored the field (vLLM ignores `grammar`): the next form, this run."""
        fmt = self.params.output_format
        if self.params.structured != "auto" or not reply.mode:
            return
        if valid and self._saved.get(fmt) != reply.mode:  # the file is read and written once per form, not per call
            self._memory.put(self._memory_key(fmt), reply.mode)
            self._saved[fmt] = reply.mode
        elif not readable and reply.mode in CONSTRAINING and reply.finish_reason != "length":
            log.info("llm: %s answered outside the %s form; trying the next form.", self.base_url, reply.mode)
            self._dropped.add((fmt, reply.mode))
            self._modes.pop(fmt, None)

    async def _ask(self, messages: list[dict[str, str]], shape: dict, mode: str) -> Reply:
        import openai

        p = self.params
        request: dict[str, Any] = {
            "model": p.model,
            "messages": messages,
            "temperature": p.temperature,
            "max_tokens": p.max_tokens,
        }
        if p.frequency_penalty:
            request["frequency_penalty"] = p.frequency_penalty
        if p.seed is not None:
            request["seed"] = p.seed
        try:
            request |= request_fields(mode, str(shape.get("title", "answer")), shape, p.output_format,
                                      p.max_string_chars, p.max_items)  # fmt: skip
        except (ValueError, ConfigError) as exc:  # no grammar form, or nothing here to make one: not this mode
            raise _Refused(str(exc)) from exc
        client = self._get_client()
        for attempt in range(p.request_retries + 1):
            try:
                response = await client.chat.completions.create(**request)
            except openai.APITimeoutError as exc:
                raise StoryforgeError(
                    f"the LLM server at {self.base_url} did not answer within llm.timeout_s={p.timeout_s:g} s "
                    f"(asking {p.max_tokens} tokens at most).",
                    "raise llm.timeout_s or lower llm.max_tokens; against a server that answers one request at a "
                    "time, leave LLM_PARALLEL off.",
                ) from exc
            except openai.APIConnectionError as exc:
                if attempt < p.request_retries:
                    await anyio.sleep(min(2**attempt, 20))
                    continue
                raise ConfigError(
                    f"cannot reach the LLM server at {self.base_url} ({_one_line(exc)}).",
                    "start it, or set llm.base_url / OPENAI_BASE_URL to where it listens.",
                ) from exc
            except openai.APIStatusError as exc:
                message = _message(exc)
                if refused(mode, exc.status_code, message):
                    raise _Refused(f"{exc.status_code}: {message[:160]}") from exc
                if exc.status_code in _RETRIED and attempt < p.request_retries:
                    await anyio.sleep(min(2**attempt, 20))
                    continue
                raise _status_error(exc.status_code, message, self.base_url, p.model) from exc
            return _reply(response, mode)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


class _Refused(Exception):
    """The server does not take the structured-output form a request asked in."""


def _window_of(entry: dict) -> int | None:
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    settings = entry.get("default_generation_settings") if isinstance(entry.get("default_generation_settings"), dict) else {}
    for value in (entry.get("max_model_len"), entry.get("max_context_length"), entry.get("context_length"),
                  entry.get("n_ctx"), settings.get("n_ctx"), meta.get("n_ctx")):  # fmt: skip
        if isinstance(value, int) and value > 0:
            return value
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _message(exc) -> str:
    """The error's own message: from the JSON body where there is one, one line, without a server traceback."""
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        body = body.get("message", body) if isinstance(body, dict) else body
    text = body if isinstance(body, str) else exc.message
    return " ".join(str(text).split("Traceback")[0].split())[:400]


def _status_error(status: int, message: str, base_url: str, model: str) -> StoryforgeError:
    text = message.lower()
    if any(w in text for w in ("context", "maximum", "too long", "exceed")) and "token" in text:
        return ConfigError(
            f"the prompt does not fit the model's context at {base_url} ({message[:200]}).",
            "lower llm.context_budget, or start the server with a larger context (-c / --max-model-len); "
            "setting llm.context_window lets storyforge check this before it starts.",
        )
    if status in (401, 403):
        return ConfigError(f"the LLM server at {base_url} refused the key ({status}: {message[:200]}).",
                           "set the key in the variable llm.api_key_env names (OPENAI_API_KEY by default).")  # fmt: skip
    if status == 404:
        return ConfigError(f"the LLM server at {base_url} has no model '{model}' ({message[:200]}).",
                           "set llm.model (or OPENAI_MODEL) to a name from its /v1/models.")  # fmt: skip
    return StoryforgeError(f"the LLM server at {base_url} answered {status} ({message[:300]}).",
                           "check the server's log; the run resumes from the cache when it is fixed.")  # fmt: skip


def _reply(response, mode: str) -> Reply:
    usage = response.usage
    choice = response.choices[0]
    return Reply(
        text=choice.message.content or "",
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        finish_reason=choice.finish_reason or "stop",
        mode=mode,
    )
