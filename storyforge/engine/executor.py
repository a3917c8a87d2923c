"""Where a unit of work runs. The runner keys, caches, chains and records every unit itself; an executor only
turns (stage, context, inputs) into an output. `executor=local` (the default) awaits the stage in this process;
`executor=ray` (storyforge.engine.ray_executor) hands the items of `for_each` stages to Ray actors.

An executor is chosen by the `executor` config group (conf/executor/), built from its `_target_` and Params.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from storyforge.engine.contract import Params, PromptSet, RunContext
from storyforge.errors import ConfigError

if TYPE_CHECKING:
    from storyforge.engine.graph import Graph, Node


@dataclass
class Ran:
    """A unit's output and where it was computed; from another process, also what happened there."""

    value: BaseModel | None
    worker: str  # "local", or "<host>:<pid>" of the process that ran it
    peak_gpu_mb: float | None = None  # measured where it ran, when that process has CUDA
    error: Exception | None = None  # what the stage raised there (value is then None)
    traceback: str = ""  # ...and where
    logs: list[tuple[str, int, str]] = field(default_factory=list)  # (logger, level, message) logged there
    usage: dict[str, list[dict]] = field(default_factory=dict)  # service -> its call records made there (LLM tokens)


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Executor:
    """Runs units in this process. Subclasses send some elsewhere; `start`/`close` bracket a run and
    `stage_done` lets them free what a stage held (actors, GPUs) as soon as it finishes."""

    class Params(Params):
        pass

    def __init__(self, **params: Any) -> None:
        self.params = self.Params(**params)

    def start(self, graph: Graph, prompts: PromptSet) -> None:
        """Called once before the graph runs."""

    def remote(self, node: Node) -> bool:
        """Whether this node's units run outside this process (their GPU peak is measured there)."""
        return False

    async def run(self, node: Node, ctx: RunContext, inputs: dict[str, Any]) -> Ran:
        """One unit of `node`: its context and inputs by parameter name."""
        return Ran(value=await node.stage.run(ctx, **inputs), worker="local")

    async def stage_done(self, node: Node) -> None:
        """The stage has no more units to run."""

    def close(self) -> None:
        """The run is over (also after a failure)."""


class LocalExecutor(Executor):
    """Every unit in this process, concurrently under anyio (the services' limiters bound the real work)."""


def build_executor(spec: dict | None) -> Executor:
    """The executor the config names (none: local), with its Params checked."""
    from storyforge.engine.graph import format_validation, import_target

    spec = dict(spec or {})
    target = spec.pop("_target_", "storyforge.engine.executor.LocalExecutor")
    cls = import_target(target, "executor._target_", "storyforge")
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ConfigError(f"executor._target_ '{target}' is not an Executor.", "use executor=local or executor=ray.")
    try:
        return cls(**spec)
    except ValidationError as exc:
        raise ConfigError(f"invalid executor config: {format_validation(exc, 'executor')}.", "fix or remove those keys.") from exc
