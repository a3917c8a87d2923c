"""The contracts the engine relies on: `Stage`, `Service`, the `RunContext` a stage runs in, and prompts.

A stage is a pure transformation of typed inputs to a typed output. It names the services it uses; the engine
injects them as attributes. Its `Params` validate at build time and hold the defaults; YAML only overrides.
Fields declared with `knob(...)` (timeouts, retries, concurrency) do not change outputs and stay out of keys.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import anyio
from jinja2 import StrictUndefined
from jinja2.exceptions import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from storyforge.errors import ConfigError, first_error
from storyforge.models import ModelLicence, ModelProvider


async def gather(fn: Callable[[Any], Awaitable[Any]], items: Sequence[Any]) -> list[Any]:
    """`fn(item)` for every item at once (the services' limiters bound how many really run), results in order.
    The first failure is raised as itself, not wrapped in an exception group."""
    results: list[Any] = [None] * len(items)

    async def one(i: int, item: Any) -> None:
        results[i] = await fn(item)

    try:
        async with anyio.create_task_group() as tg:
            for i, item in enumerate(items):
                tg.start_soon(one, i, item)
    except BaseExceptionGroup as group:
        raise first_error(group) from None
    return results


def knob(default: Any, description: str) -> Any:
    """A parameter that does not change the output (concurrency, timeouts, retries): left out of cache keys."""
    return Field(default, description=description, json_schema_extra={"cache_key": False})


def key_params(params: BaseModel) -> dict:
    """The params that shape the output, as JSON-able data."""
    data = params.model_dump(mode="json")
    for name, info in type(params).model_fields.items():
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("cache_key") is False:
            data.pop(name, None)
    return data


class Params(BaseModel):
    """Base for stage and service parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Service:
    """A backend (LLM, image/video, TTS, music, compositor). Cheap to construct; heavy state loads lazily."""

    provider: ClassVar[ModelProvider]

    class Params(Params):
        max_concurrency: int = knob(1, "How many calls may run at once")
        num_gpus: float = knob(0.0, "GPUs a Ray actor holding this service asks for (executor=ray only)")
        licence: dict | None = knob(
            None, "The licence of the model this service loads where storyforge/licences.py does not know it (or you "
            "hold another): {name, commercial_use: true|false, source}"
        )  # fmt: skip

    def __init__(self, **params: Any) -> None:
        self.params = self.Params(**params)
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def concurrency(self) -> int:
        return self.params.max_concurrency

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        """Bounds blocking work on this service; made on first use, inside the run's event loop."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        return self._limiter

    def fingerprint(self) -> dict:
        """Everything that changes this service's output, nothing secret."""
        cls = type(self)
        return {"target": f"{cls.__module__}.{cls.__qualname__}", "provider": self.provider.value, **key_params(self.params)}

    def item_fingerprint(self, item: Any) -> dict:
        """What this service's output for one item of a `for_each` stage depends on besides `fingerprint()`, found
        from the item: e.g. the digest of the font file a card's text is drawn with, which follows the text's
        script. Merged into the service's fingerprint in that item's key; {} (the default): nothing."""
        return {}

    def models(self) -> list[str]:
        """The model weights this service loads, as configured (hub ids, folders, packages); [] for procedural
        media. Their licences are looked up in storyforge/licences.py."""
        return []

    def licences(self, service: str) -> list[ModelLicence]:
        """The licence of each model this service loads (`service`: its name in the graph, e.g. tts)."""
        from storyforge.licences import licence_of

        models = [m for m in dict.fromkeys(self.models()) if m]
        return [licence_of(service, m, self.params.licence, only=len(models) == 1) for m in models]

    def warm_up(self) -> None:
        """Load weights ahead of first use (no-op for services without any)."""

    def close(self) -> None:
        """Release models and memory when the stages using this service are done."""


class PromptSet:
    """Jinja2 templates from `conf/prompts/<set>/`, rendered in a sandbox where an undefined name is an error."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)

    def source(self, name: str) -> str:
        path = self.folder / f"{name}.j2"
        if not path.is_file():
            raise ConfigError(
                f"Prompt template '{name}' is missing from prompt set '{self.folder.name}' ({path}).",
                f"add {name}.j2 to that folder or choose another set with prompts=<set>.",
            )
        return path.read_text(encoding="utf-8")

    def render(self, name: str, **variables: Any) -> str:
        try:
            return self._env.from_string(self.source(name)).render(**variables)
        except TemplateError as exc:
            raise ConfigError(
                f"Prompt template '{self.folder.name}/{name}.j2' failed to render: {exc}.",
                "use only the variables the stage passes (see the stage's docstring).",
            ) from exc


@dataclass
class RunContext:
    """What a stage sees of the run besides its inputs: its item, seed, a scratch folder and the prompts."""

    stage: str
    item: str
    seed: int
    scratch: Path
    prompts: PromptSet
    run_dir: Path | None = None  # where logs a user should read go (not part of any output)
    run_seed: int = 0  # the run's seed, for seeds a stage derives from something other than the item
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("storyforge"))

    def path(self, name: str) -> Path:
        """A fresh path for an output file; the engine moves it into the store when the stage returns."""
        return self.scratch / name.replace("/", "_")


class Stage(ABC):
    """One step of a recipe. Subclasses set `uses`, `Params`, and implement `async run(ctx, **inputs)`."""

    version: ClassVar[str] = "1"  # bump when the output for the same inputs changes
    uses: ClassVar[tuple[str, ...]] = ()  # services injected by name, e.g. ("llm",)
    prompts: ClassVar[tuple[str, ...]] = ()  # prompt templates whose text is part of the cache key
    export: ClassVar[str | None] = None  # readable JSON name of the whole output in the run directory
    # input -> the only fields of it that run() reads: narrower keys, so editing a shot's picture description
    # does not re-voice it. Field names, or a pydantic `include` spec for nested fields. Leave an input out to key
    # on all of it.
    reads: ClassVar[dict[str, tuple[str, ...] | dict]] = {}

    class Params(Params):
        pass

    def __init__(self, params: Params, services: dict[str, Service]) -> None:
        self.params = params
        for name in self.uses:
            setattr(self, name, services[name])

    @abstractmethod
    async def run(self, ctx: RunContext, **inputs: Any) -> BaseModel:
        """Turn inputs (named by the recipe's `needs`) into this stage's output."""

    def key_view(self, inputs: dict[str, BaseModel]) -> dict[str, Any]:
        """Per item, a narrower view of some inputs for the cache key than `reads` can say (e.g. only the characters
        this shot shows, so editing one character redraws only their shots). Inputs left out are keyed by `reads`,
        or whole; an input whose view is None is not part of the key at all (an input the output does not depend
        on in this configuration). What run() reads must all be in the view."""
        return {}

    def service_key(self, name: str, fingerprint: dict) -> dict:
        """The part of service `name`'s fingerprint this stage's output depends on (e.g. portraits: only what the
        keyframe model draws with, not the clip settings). The whole fingerprint by default."""
        return fingerprint

    def key_extra(self) -> dict[str, Any]:
        """What the output depends on besides params, inputs and services, for every item: e.g. the digests of
        files the params name, so a file replaced at the same path is seen. {} (the default): nothing."""
        return {}

    def chain(self) -> str | None:
        """For a `for_each` stage: an item field (e.g. "scene_index") whose groups run in order, each item
        getting the output of the one before it as `previous` (and keyed on it); groups still run at once.
        None (the default): items are independent."""
        return None

    def report(self, output: BaseModel) -> dict:
        """Facts about one output for the run manifest (also on a cache hit), e.g. what was summarised."""
        return {}
