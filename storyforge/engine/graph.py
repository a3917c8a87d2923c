"""Recipe -> graph of instantiated stages and services, checked before anything runs.

Every problem found here is a `ConfigError` that names the recipe key and the fix: targets outside
`storyforge.`, unknown stage names in `needs`, cycles, inputs that do not match a stage's `run` signature,
invalid params, and services a stage uses that nobody configured or that cannot be imported.
"""

from __future__ import annotations

import graphlib
import importlib
import inspect
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from storyforge.engine.contract import Service, Stage
from storyforge.errors import ConfigError

SOURCE = "source"  # the built-in input every graph starts from: the StoryInput
RESERVED = ("_target_", "needs", "for_each", "after")
# service name a stage `uses` -> where its config sits in the composed config
SERVICE_KEYS = {"llm": "llm", "video": "video", "tts": "audio.tts", "music": "audio.music", "compositor": "compositor"}


@dataclass
class Node:
    """One stage of the recipe, instantiated, with its inputs by parameter name."""

    name: str
    target: str
    stage: Stage
    needs: dict[str, str]  # run() parameter -> upstream stage name
    for_each: str | None  # upstream stage whose items this stage fans out over
    output: type[BaseModel]
    after: tuple[str, ...] = ()  # stages that must finish first, for order only (not inputs, not in the key)


@dataclass
class Graph:
    nodes: dict[str, Node]  # in recipe order
    order: list[str]  # a topological order
    services: dict[str, Service]
    # each service's config, so an executor can build the same stage in another process
    services_cfg: dict[str, Any] = field(default_factory=dict)


def format_validation(exc: ValidationError, prefix: str) -> str:
    return "; ".join(f"{prefix}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def import_target(target: Any, key: str, package: str) -> type:
    if not isinstance(target, str) or not target.startswith(package + "."):
        raise ConfigError(
            f"{key} is {target!r}, which is outside {package}. (configs that name targets are code).",
            f"name a class under {package}., or wrap other code in one.",
        )
    module, _, attr = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ConfigError(
            f"{key} '{target}' cannot be imported: {exc}.",
            "pick another backend (see conf/ and README's profile table) or install the extra that provides it.",
        ) from exc
    except AttributeError as exc:
        raise ConfigError(f"{key} '{target}': module {module} has no {attr}.", "check the spelling of _target_.") from exc


def _needs(name: str, spec: Mapping) -> tuple[dict[str, str], str | None]:
    raw = spec.get("needs") or []
    if isinstance(raw, str):
        raw = [raw]
    needs = dict(raw) if isinstance(raw, Mapping) else {n: n for n in raw}
    for_each = spec.get("for_each")
    if for_each is not None and for_each not in needs.values():
        needs[for_each] = for_each
    return needs, for_each


def _check_signature(name: str, cls: type[Stage], needs: dict[str, str]) -> type[BaseModel]:
    # `previous` is given by the engine to chained stages (Stage.chain), never by the recipe; an input with a
    # default (RenderShot's `portraits`) may be left out by a recipe without that stage
    signature = inspect.signature(cls.run).parameters
    params = [p for p in signature if p not in ("self", "ctx", "previous")]
    required = {p for p in params if signature[p].default is inspect.Parameter.empty}
    if not required <= set(needs) <= set(params):
        raise ConfigError(
            f"stages.{name}.needs gives inputs {sorted(needs)} but {cls.__name__}.run takes {sorted(params)}.",
            f"list the stages it needs as {{param: stage}}, e.g. needs: {{{', '.join(f'{p}: <stage>' for p in params)}}}.",
        )
    output = typing.get_type_hints(cls.run).get("return")
    if not (isinstance(output, type) and issubclass(output, BaseModel)):
        raise ConfigError(f"{cls.__name__}.run must be annotated to return a pydantic model.", "add the annotation.")
    return output


def _service(use: str, stage_name: str, services_cfg: Mapping[str, Any], built: dict[str, Service]) -> Service:
    if use in built:
        return built[use]
    key = SERVICE_KEYS.get(use)
    spec = services_cfg.get(use)
    if key is None or not spec:
        raise ConfigError(
            f"stage '{stage_name}' uses service '{use}', but no {key or use} is configured.",
            f"choose one with {key or use}=<backend> (see conf/{(key or use).replace('.', '/')}/).",
        )
    cls = import_target(spec.get("_target_"), f"{key}._target_", "storyforge.services")
    try:
        built[use] = cls(**{k: v for k, v in spec.items() if k != "_target_"})
    except ValidationError as exc:
        raise ConfigError(f"invalid service config: {format_validation(exc, key)}.", "fix or remove those keys.") from exc
    return built[use]


def build_graph(stages_cfg: Mapping[str, Any], services_cfg: Mapping[str, Any]) -> Graph:
    """Check the recipe and instantiate its stages with their services injected."""
    if not stages_cfg:
        raise ConfigError("the recipe defines no stages.", "pick a recipe with recipe=<name> (see recipes/).")
    nodes: dict[str, Node] = {}
    services: dict[str, Service] = {}
    for name, spec in stages_cfg.items():
        if not isinstance(spec, Mapping) or "_target_" not in spec:
            raise ConfigError(f"stages.{name} has no _target_.", "give each stage a _target_ naming its class.")
        cls = import_target(spec["_target_"], f"stages.{name}._target_", "storyforge")
        if not (isinstance(cls, type) and issubclass(cls, Stage)):
            raise ConfigError(
                f"stages.{name}._target_ '{spec['_target_']}' is not a Stage.", "name a class from storyforge.stages."
            )
        needs, for_each = _needs(name, spec)
        for upstream in needs.values():
            if upstream != SOURCE and upstream not in stages_cfg:
                raise ConfigError(
                    f"stages.{name}.needs names '{upstream}', which is not a stage of this recipe.",
                    f"use one of {sorted([SOURCE, *stages_cfg])}.",
                )
        output = _check_signature(name, cls, needs)
        after = spec.get("after") or ()
        after = (after,) if isinstance(after, str) else tuple(after)
        if unknown := [a for a in after if a not in stages_cfg]:
            raise ConfigError(
                f"stages.{name}.after names {unknown}, not stages of this recipe.", f"use some of {sorted(stages_cfg)}."
            )
        try:
            params = cls.Params(**{k: v for k, v in spec.items() if k not in RESERVED})
        except ValidationError as exc:
            raise ConfigError(
                f"invalid stage params: {format_validation(exc, f'stages.{name}')}.", "fix or remove those keys."
            ) from exc
        injected = {use: _service(use, name, services_cfg, services) for use in cls.uses}
        nodes[name] = Node(name, spec["_target_"], cls(params, injected), needs, for_each, output, after)

    sorter = graphlib.TopologicalSorter(
        {n: [u for u in node.needs.values() if u != SOURCE] + list(node.after) for n, node in nodes.items()}
    )
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ConfigError(f"the recipe's needs form a cycle: {cycle}.", "remove one of those needs.") from exc
    return Graph(nodes, order, services, dict(services_cfg))


def instantiate_stage(target: str, params: Mapping[str, Any], services_cfg: Mapping[str, Any]) -> Stage:
    """The same stage, with fresh services, in another process (a Ray actor): from data, not pickled objects,
    so loaded models, locks and limiters never travel."""
    cls = import_target(target, "_target_", "storyforge")
    services: dict[str, Service] = {}
    return cls(cls.Params(**params), {use: _service(use, target, services_cfg, services) for use in cls.uses})
