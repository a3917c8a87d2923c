"""Run a checked graph with anyio: independent stages concurrently, `for_each` items fanned out, every unit
memoised in the cache.

A unit is a whole stage, or one item of a `for_each` stage. Its key hashes the stage target and version, the
params that shape output, the fingerprints of the services it uses (with what they say one item depends on,
e.g. the font its text is drawn with), its prompt templates, a seed derived from
(run seed, item id), and the content digests of its inputs. A unit that finishes is committed to the cache at
once, so a run that dies later resumes from there. Results keep story order however they finish. When an item
of a `for_each` stage fails, its siblings still finish (and are cached) before the stage raises the first failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ValidationError

from storyforge.engine import children
from storyforge.engine.cache import KEY_SCHEMA, Cache, canonical_json, digest
from storyforge.engine.contract import PromptSet, RunContext, key_params
from storyforge.engine.executor import Executor, LocalExecutor
from storyforge.engine.graph import SOURCE, Graph, Node
from storyforge.engine.progress import Reporter
from storyforge.errors import StageFailed
from storyforge.models import Artifact, ItemRecord, StageRecord


@dataclass
class Output:
    """A stage's output (a model, or a list of per-item models) with its content digest."""

    value: Any
    digest: str


TICK_S = 0.25  # how often the reporter is asked whether the run should stop (Reporter.tick)
_FLIGHTS: dict[tuple[str, str], threading.Lock] = {}
_FLIGHTS_LOCK = threading.Lock()


@asynccontextmanager
async def _in_flight(cache: Cache, key: str) -> AsyncIterator[None]:
    """One computation per (cache, key) at a time in this process, across runs and threads: a second caller waits
    for the first, then reads its result from the cache. (Between processes the cache's atomic writes make
    duplicate work harmless, not impossible.)"""
    with _FLIGHTS_LOCK:
        lock = _FLIGHTS.setdefault((str(cache.root), key), threading.Lock())
    while not lock.acquire(blocking=False):  # polled, so a cancelled run stops waiting at once
        await anyio.sleep(0.05)
    try:
        yield
    finally:
        lock.release()
        with _FLIGHTS_LOCK:
            if not lock.locked():
                _FLIGHTS.pop((str(cache.root), key), None)


def loaded_cuda() -> Any:
    """torch.cuda when a service has imported torch and CUDA is there; None otherwise (no import here)."""
    torch = sys.modules.get("torch")
    return torch.cuda if torch is not None and torch.cuda.is_available() else None


def derive_seed(run_seed: int, item: str) -> int:
    """A per-item seed that depends only on the run seed and the item's id."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}:{item}".encode()).digest()[:4], "big")


def items_of(value: Any) -> list[BaseModel]:
    """What a `for_each` iterates over: a model's `fan_out()`, flattened across a list of models."""
    if isinstance(value, list):
        return [item for v in value for item in items_of(v)]
    return list(value.fan_out()) if hasattr(value, "fan_out") else [value]


def dump(value: Any) -> Any:
    return [dump(v) for v in value] if isinstance(value, list) else value.model_dump(mode="json")


def artifacts_in(value: Any) -> list[Artifact]:
    """Every Artifact inside a model, found by walking its fields."""
    if isinstance(value, Artifact):
        return [value]
    if isinstance(value, BaseModel):
        return [a for v in value.__dict__.values() for a in artifacts_in(v)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in artifacts_in(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in artifacts_in(v)]
    return []


def link(src: Path, dest: Path) -> None:
    """Put a store file into the run directory under its readable name: a hard link, or a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def base_payload(node: Node, fingerprints: dict[str, dict], prompts: PromptSet) -> dict:
    """The part of a unit's key shared by all items of a stage."""
    stage = type(node.stage)
    return {
        "schema": KEY_SCHEMA,
        "target": node.target,
        "version": stage.version,
        "params": key_params(node.stage.params),
        "services": {use: node.stage.service_key(use, fingerprints[use]) for use in stage.uses},
        "prompts": {name: prompts.source(name) for name in stage.prompts},
        **({"extra": extra} if (extra := node.stage.key_extra()) else {}),
    }


def item_base(node: Node, base: dict, item: Any) -> dict:
    """The stage's key payload for one item: with what each service says that item's output depends on (its
    `item_fingerprint`, e.g. the font a card is drawn with) merged into the service's fingerprint."""
    extra = {use: getattr(node.stage, use).item_fingerprint(item) for use in type(node.stage).uses}
    if not any(extra.values()):
        return base
    return {**base, "services": {use: {**fp, **extra[use]} for use, fp in base["services"].items()}}


def input_digests(node: Node, inputs: dict[str, Output]) -> dict[str, str]:
    """Content digests of a unit's inputs: the stage's `key_view` of them, else only the fields it declares in
    `reads`, else the whole input."""
    reads = type(node.stage).reads

    def include(spec: tuple[str, ...] | dict) -> set | dict:
        return spec if isinstance(spec, dict) else set(spec)

    views = node.stage.key_view({p: o.value for p, o in inputs.items()})
    return {
        p: digest(views[p]) if p in views else
        digest(o.value.model_dump(mode="json", include=include(reads[p]))) if p in reads else o.digest
        for p, o in inputs.items() if p not in views or views[p] is not None
    }  # fmt: skip


def unit_payload(base: dict, seed: int, inputs: dict[str, str]) -> dict:
    """What a unit's key hashes: stage identity, params, services, prompts, seed, input digests."""
    return {**base, "seed": seed, "inputs": inputs}


def unit_key(base: dict, seed: int, inputs: dict[str, str]) -> str:
    """sha256 of the canonical key payload."""
    return digest(unit_payload(base, seed, inputs))


@dataclass
class Runner:
    graph: Graph
    cache: Cache
    prompts: PromptSet
    run_seed: int
    run_dir: Path
    reporter: Reporter
    executor: Executor = field(default_factory=LocalExecutor)
    records: dict[str, StageRecord] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # readable name -> sha256
    _remote_peaks: dict[str, list[float]] = field(default_factory=dict)  # GPU peaks measured where units ran

    async def run(self, source: BaseModel) -> dict[str, Output]:
        results = {SOURCE: Output(source, digest(dump(source)))}
        done = {name: anyio.Event() for name in self.graph.nodes}
        # stages whose units run in this process, per service: it is unloaded here when the last one ends (stages
        # sent elsewhere by the executor load their own copy there)
        local = [n for n in self.graph.nodes.values() if not self.executor.remote(n)]
        users = {use: sum(use in n.stage.uses for n in local) for use in self.graph.services}
        fingerprints = {name: svc.fingerprint() for name, svc in self.graph.services.items()}

        async def run_node(node: Node) -> None:
            for upstream in [*node.needs.values(), *node.after]:
                if upstream != SOURCE:
                    await done[upstream].wait()
            results[node.name] = await self._run_stage(node, results, fingerprints)
            done[node.name].set()
            for use in () if self.executor.remote(node) else node.stage.uses:  # unload once no stage here needs it
                users[use] -= 1
                if users[use] == 0:
                    await anyio.to_thread.run_sync(self.graph.services[use].close)

        async def tick() -> None:  # lets a front end stop the run between events (a cancelled job, a stopping server)
            while True:
                await anyio.sleep(TICK_S)
                try:
                    self.reporter.tick()
                except BaseException:  # stopping: end the children first, so threads waiting on them return now
                    children.kill_run(token)
                    raise

        with children.run_scope() as token:  # the run's child processes: killed when it stops, however it stops
            async with anyio.create_task_group() as outer:
                outer.start_soon(tick)
                async with anyio.create_task_group() as tg:
                    for name in self.graph.order:
                        tg.start_soon(run_node, self.graph.nodes[name])
                outer.cancel_scope.cancel()
        return results

    async def _run_stage(self, node: Node, results: dict[str, Output], fingerprints: dict[str, dict]) -> Output:
        started = time.perf_counter()
        if cuda := loaded_cuda():
            cuda.reset_peak_memory_stats()
        base = base_payload(node, fingerprints, self.prompts)
        fixed = {p: results[u] for p, u in node.needs.items() if u != node.for_each}
        if node.for_each is None:
            units = [("", fixed)]
        else:
            param = next(p for p, u in node.needs.items() if u == node.for_each)
            items = items_of(results[node.for_each].value)
            names: dict[str, int] = {}
            units = []
            for i, item in enumerate(items):  # two items with one id (two names that read alike) get their own
                name = getattr(item, "id", None) or f"{i + 1:04d}"
                names[name] = names.get(name, 0) + 1
                units.append(
                    (name if names[name] == 1 else f"{name}_{names[name]}", {**fixed, param: Output(item, digest(dump(item)))})
                )
        bases = [base] * len(units)
        if node.for_each is not None:  # off the event loop: a service may look at files (fonts) to answer
            bases = await anyio.to_thread.run_sync(lambda: [item_base(node, base, inputs[param].value) for _, inputs in units])
        self.reporter.stage_started(node.name, len(units) if node.for_each else 0)
        records: list[ItemRecord | None] = [None] * len(units)
        values: list[Any] = [None] * len(units)
        failed: dict[int, Exception] = {}

        async def run_unit(i: int, item: str, inputs: dict[str, Output]) -> None:
            try:
                values[i], records[i] = await self._unit(node, bases[i], item, inputs)
            except Exception as exc:  # the other items go on and are cached; the first failure is raised after them
                failed[i] = exc
                return
            self.reporter.item_done(node.name, records[i].hit)

        async def run_chain(members: list[int]) -> None:
            """Items in order, each given the one before's output as `previous`."""
            for k, i in enumerate(members):
                item, inputs = units[i]
                if k:
                    if members[k - 1] in failed:
                        return
                    inputs = {**inputs, "previous": Output(values[members[k - 1]], records[members[k - 1]].output)}
                await run_unit(i, item, inputs)

        chain = node.stage.chain() if node.for_each else None
        try:
            async with anyio.create_task_group() as tg:
                if chain:
                    groups: dict[Any, list[int]] = {}
                    for i, (_, inputs) in enumerate(units):
                        groups.setdefault(getattr(inputs[param].value, chain), []).append(i)
                    for members in groups.values():
                        tg.start_soon(run_chain, members)
                else:
                    for i, (item, inputs) in enumerate(units):
                        tg.start_soon(run_unit, i, item, inputs)
        finally:
            with anyio.CancelScope(shield=True):
                await self.executor.stage_done(node)
        if failed:
            raise failed[min(failed)]

        if node.for_each is None:
            out = Output(values[0], records[0].output)
        else:
            out = Output(values, digest([r.output for r in records]))
        if type(node.stage).export:
            export = self.run_dir / type(node.stage).export
            export.write_text(json.dumps(dump(out.value), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        record = StageRecord(
            target=node.target,
            version=type(node.stage).version,
            seconds=round(time.perf_counter() - started, 4),
            hits=sum(r.hit for r in records),
            misses=sum(not r.hit for r in records),
            items=records,
            peak_gpu_mb=self._peak_gpu_mb(node, cuda),
        )
        self.records[node.name] = record
        self.reporter.stage_finished(node.name, record)
        return out

    def _peak_gpu_mb(self, node: Node, cuda: Any) -> float | None:
        """Where units ran in other processes, the largest peak they measured; else this process's peak."""
        if self.executor.remote(node):
            return max(self._remote_peaks.pop(node.name, []), default=None)
        return round(cuda.max_memory_allocated() / 2**20, 1) if cuda else None

    async def _unit(self, node: Node, base: dict, item: str, inputs: dict[str, Output]) -> tuple[Any, ItemRecord]:
        started = time.perf_counter()
        seed = derive_seed(self.run_seed, item)
        payload = unit_payload(base, seed, input_digests(node, inputs))
        key = digest(payload)
        value, hit, out_sha, worker = None, False, "", None
        async with _in_flight(self.cache, key):  # identical work running elsewhere in this process: wait, then hit
            if self.cache.reads(node.name) and (stored := self.cache.index.get(key)):
                value = self._load(stored, node.output)
                hit, out_sha = value is not None, stored.get("output", "")
            if value is None:
                value, out_sha, worker = await self._compute_and_store(node, item, seed, inputs, key, payload, started)
        artifacts = {}
        for art in artifacts_in(value):
            link(art.path, self.run_dir / art.name)
            artifacts[art.name] = art.sha256
        self.outputs.update(artifacts)
        seconds = round(time.perf_counter() - started, 4)
        notes = node.stage.report(value)
        return value, ItemRecord(
            item=item, key=key, hit=hit, seconds=seconds, output=out_sha, artifacts=artifacts, notes=notes, worker=worker
        )

    async def _compute_and_store(self, node: Node, item: str, seed: int, inputs: dict[str, Output], key: str, payload: dict,
                                 started: float) -> tuple[Any, str, str]:  # fmt: skip
        """Compute a unit and commit it at once, with its key payload and the key it had before (for explain)."""
        value, out_sha, worker = await self._compute(node, item, seed, inputs)
        if self.cache.writes():
            latest = f"latest:{node.name}:{item}"
            previous = (self.cache.index.get(latest) or {}).get("key")
            record = {"output": out_sha, "seconds": round(time.perf_counter() - started, 4), "stage": node.name,
                      "item": item, "payload": self.cache.blobs.put_bytes(canonical_json(payload)), "previous": previous}  # fmt: skip
            self.cache.index.set(key, record)
            self.cache.index.set(latest, {"key": key})
        return value, out_sha, worker

    async def _compute(self, node: Node, item: str, seed: int, inputs: dict[str, Output]) -> tuple[Any, str, str]:
        blobs = self.cache.blobs
        scratch = blobs.scratch_dir()
        try:
            ctx = RunContext(stage=node.name, item=item, seed=seed, scratch=scratch, prompts=self.prompts, run_dir=self.run_dir,
                             run_seed=self.run_seed)  # fmt: skip
            try:
                ran = await self.executor.run(node, ctx, {p: o.value for p, o in inputs.items()})
            except Exception as exc:
                if isinstance(getattr(exc, "raw_output", None), str):  # keep what a model said for the user to read
                    (self.run_dir / f"{node.name}{'-' + item if item else ''}.last-output.txt").write_text(
                        exc.raw_output, encoding="utf-8"
                    )
                raise StageFailed(node.name, item, exc) from exc
            value = ran.value
            if ran.peak_gpu_mb is not None:
                self._remote_peaks.setdefault(node.name, []).append(ran.peak_gpu_mb)
            if not isinstance(value, node.output):
                raise StageFailed(node.name, item, TypeError(f"returned {type(value).__name__}, not {node.output.__name__}"))
            for art in artifacts_in(value):
                if not art.sha256:
                    art.sha256 = blobs.put_file(Path(art.path))
                art.path = blobs.path(art.sha256)
            return value, blobs.put_bytes(canonical_json(dump(value))), ran.worker
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _load(self, stored: dict, output: type[BaseModel]) -> BaseModel | None:
        """The cached output, or None when its blob or any artifact is missing or corrupt."""
        data = self.cache.blobs.read_verified(stored.get("output", ""))
        if data is None:
            return None
        try:
            value = output.model_validate(json.loads(data))
        except (ValidationError, ValueError):
            return None
        for art in artifacts_in(value):
            if not self.cache.blobs.verify(art.sha256):
                return None
            art.path = self.cache.blobs.path(art.sha256)
        return value
