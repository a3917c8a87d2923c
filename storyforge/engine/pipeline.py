"""One run: read the story, build and check the graph, run it against the cache, write the manifest.

This is the engine's single entry point; the CLI, the API and the tests all call `run_pipeline`.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
import traceback
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
from omegaconf import DictConfig, OmegaConf

import storyforge
from storyforge.engine.cache import MODES, Cache
from storyforge.engine.contract import PromptSet
from storyforge.engine.executor import build_executor
from storyforge.engine.graph import SERVICE_KEYS, Graph, build_graph
from storyforge.engine.progress import Reporter
from storyforge.engine.runner import Output, Runner
from storyforge.errors import ConfigError, first_error
from storyforge.licences import require_commercial, verdict
from storyforge.models import ModelLicence, RunManifest
from storyforge.quality import quality_figures
from storyforge.resources import resource_dir, source_root
from storyforge.story_input import read_story

log = logging.getLogger("storyforge")
PACKAGES = (
    "hydra-core",
    "omegaconf",
    "pydantic",
    "anyio",
    "diskcache",
    "pillow",
    "numpy",
    "imageio-ffmpeg",
    "jinja2",
    "torch",
    "diffusers",
    "transformers",
    "coqui-tts",
    "moviepy",
)
_SECRET = re.compile(r"(api[_-]?key|token|secret|password)", re.IGNORECASE)


@dataclass
class RunResult:
    run_dir: Path
    manifest: RunManifest
    outputs: dict[str, Output]

    @property
    def video(self) -> Path | None:
        path = self.run_dir / "final.mp4"
        return path if path.exists() else None


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("storyforge"))


def open_cache(cfg: DictConfig) -> Cache:
    mode = cfg.cache.get("mode", "read_write")
    if mode not in MODES:
        raise ConfigError(f"cache.mode={mode} is not a cache mode.", f"use one of {', '.join(MODES)}.")
    root = Path(cfg.cache.dir).expanduser().resolve() if cfg.cache.get("dir") else default_cache_dir()
    return Cache(root, mode=mode, refresh=tuple(cfg.cache.get("refresh") or ()))


def redact(value: Any) -> Any:
    """The config without secrets: any key that looks like one is replaced by '***'."""
    if isinstance(value, dict):
        return {k: ("***" if _SECRET.search(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def package_versions() -> dict[str, str]:
    versions = {"storyforge": storyforge.__version__}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    root = source_root()
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _resolved(cfg: DictConfig) -> dict:
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except Exception as exc:  # an interpolation or missing value: name it
        raise ConfigError(
            f"the configuration does not resolve: {exc}".split("\n")[0] + ".", "fix the named key (see conf/config.yaml)."
        ) from exc


def stage_licences(graph: Graph) -> dict[str, list[ModelLicence]]:
    """The licences of the models each stage's services load, by stage name."""
    of = {use: service.licences(use) for use, service in graph.services.items()}
    return {name: [x for use in node.stage.uses for x in of.get(use, [])] for name, node in graph.nodes.items()}


def used_licences(by_stage: dict[str, list[ModelLicence]], ran: Container[str]) -> list[ModelLicence]:
    """Each model once, of the stages in `ran`: those that ran (computed or served from the cache), or all."""
    seen: dict[tuple[str, str], ModelLicence] = {}
    for name, licences in by_stage.items():
        if name in ran:
            for x in licences:
                seen.setdefault((x.service, x.model), x)
    return list(seen.values())


def run_pipeline(cfg: DictConfig, run_dir: Path, reporter: Reporter | None = None, profile_reason: str = "") -> RunResult:
    """Run the recipe in `cfg`, writing readable outputs and manifest.json into `run_dir`."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    resolved = _resolved(cfg)
    if resolved.get("profile_name") == "auto":
        raise ConfigError("profile=auto reached the engine unresolved.", "compose through storyforge.config.compose or the CLI.")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    story = read_story(resolved.get("story"), int(resolved.get("story_max_bytes", 5_000_000)))
    services_cfg = {name: OmegaConf.select(cfg, key) for name, key in SERVICE_KEYS.items()}
    services_cfg = {k: OmegaConf.to_container(v, resolve=True) for k, v in services_cfg.items() if v is not None}
    graph = build_graph(resolved.get("stages") or {}, services_cfg)
    by_stage = stage_licences(graph)
    rules = resolved.get("licence") or {}
    if rules.get("require_commercial"):  # before anything runs or loads
        require_commercial(used_licences(by_stage, graph.nodes), bool(rules.get("allow_unknown", True)))
    prompts = PromptSet(resource_dir("conf") / "prompts" / str(resolved["prompts"]["set"]))
    executor = build_executor(resolved.get("executor"))
    cache = open_cache(cfg)
    reporter = reporter or Reporter()
    runner = Runner(graph, cache, prompts, int(resolved.get("seed", 0)), run_dir, reporter, executor)
    status, error, outputs = "succeeded", None, {}
    quality: dict = {}
    try:
        executor.start(graph, prompts)
        outputs = anyio.run(runner.run, story)
        quality = quality_figures([o.value for o in outputs.values()], run_dir)
    except BaseException as exc:
        first = first_error(exc)
        status, error = getattr(first, "run_status", "failed"), str(first)  # a stop on request is not a failure
        (run_dir / "error.log").write_text("".join(traceback.format_exception(first)), encoding="utf-8")
        raise first from None  # the error itself (with its own traceback), not anyio's exception group
    finally:
        executor.close()
        reporter.close()
        cache.close()
        manifest = RunManifest(
            storyforge_version=storyforge.__version__,
            profile=str(resolved.get("profile_name")),
            profile_reason=profile_reason,
            started_at=started.isoformat(timespec="seconds"),
            seconds=round(time.perf_counter() - t0, 3),
            git_commit=git_commit(),
            packages=package_versions(),
            config=redact(resolved),
            stages={
                name: runner.records[name].model_copy(update={"licences": by_stage[name]})
                for name in graph.nodes
                if name in runner.records
            },
            licences=(used := used_licences(by_stage, runner.records)),
            commercial_use=verdict(used),
            outputs=runner.outputs,
            quality=quality,
            llm_calls=[call for service in graph.services.values() for call in getattr(service, "usage", [])],
            status=status,
            error=error,
        )
        (run_dir / "manifest.json").write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return RunResult(run_dir, manifest, outputs)
