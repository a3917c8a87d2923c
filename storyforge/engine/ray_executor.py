"""`executor=ray`: the items of `for_each` stages run on Ray actors, one stage (and its models) per actor.

Each actor builds its stage from the recipe's data (target, params, service configs) rather than receiving
the driver's objects, so models load once per actor and nothing unpicklable travels. It then checks that its
services' fingerprints and the stage's prompt templates are the driver's: a node without espeak-ng (whose
voice would fall back to tones) or with other prompts would otherwise store different work under the
driver's keys. An actor asks Ray for the largest `num_gpus` among its stage's services (0 by default, 1 for
the models `profile=prod_gpu` loads). A stage starts one actor on its first miss and adds more, up to
`actors`, while every actor is busy; actors are removed as soon as the stage has no more items, which frees
their GPUs for the next stage. Items go only to actors Ray has placed, so stages sharing a small cluster take
turns instead of deadlocking.

The driver keeps everything else: cache keys, hits, chaining (`previous`), the store and the manifest, so a
run gives the same outputs as `executor=local`. What happens in an actor comes back with its output: the
stage's error (with the actor's traceback as a note), its log lines, its LLM call records, its GPU peak.
Actors write files to a scratch folder inside the cache, which on a cluster must be shared storage (the same
path on every node) -- see README, "Scaling out". Whole stages (ingest, scenes, music, compose, mix, film) stay in the
driver.
"""

from __future__ import annotations

import logging
import math
import pickle
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from storyforge.engine.contract import knob
from storyforge.engine.executor import Executor, Ran
from storyforge.errors import ConfigError

if TYPE_CHECKING:
    from storyforge.engine.contract import PromptSet, RunContext
    from storyforge.engine.graph import Graph, Node

log = logging.getLogger("storyforge")
_RAY_LOCK = threading.Lock()
_runs_using_ray = 0  # runs of this process (API workers, threads) using Ray now
_we_started_ray = False  # shut Ray down when the last of them ends only if we started it


def _acquire_ray(address: str | None, num_cpus: int | None) -> None:
    global _runs_using_ray, _we_started_ray
    import ray

    with _RAY_LOCK:
        if not ray.is_initialized():
            local = {"num_cpus": num_cpus} if address is None else {}
            try:
                ray.init(address=address, include_dashboard=False, configure_logging=False, **local)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(
                    f"Ray did not start or connect (executor.address={address}): {exc}".split("\n")[0] + ".",
                    "check executor.address and RAY_ADDRESS (drop executor.num_cpus when joining a cluster).",
                ) from exc
            _we_started_ray = True
        _runs_using_ray += 1


def _release_ray() -> None:
    global _runs_using_ray, _we_started_ray
    import ray

    with _RAY_LOCK:
        _runs_using_ray -= 1
        if _runs_using_ray == 0 and _we_started_ray:
            ray.shutdown()
            _we_started_ray = False


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.levelno, record.getMessage()))


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else a RuntimeError carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


class StageActor:
    """A Ray actor's body: one stage with its own services, running one item at a time."""

    def __init__(self, target: str, params: dict, services_cfg: dict, fingerprints: dict, prompts_dir: str,
                 prompt_texts: dict) -> None:  # fmt: skip
        from pathlib import Path

        from storyforge.engine.contract import PromptSet
        from storyforge.engine.executor import this_worker
        from storyforge.engine.graph import instantiate_stage

        self.capture = _Capture()
        logger = logging.getLogger("storyforge")
        logger.addHandler(self.capture)
        logger.setLevel(logging.DEBUG)  # the driver's loggers decide what is shown
        logger.propagate = False  # lines (set-up's too) go back with results, not to Ray's console
        self.stage = instantiate_stage(target, params, services_cfg)
        self.prompts = PromptSet(Path(prompts_dir))
        here = {use: getattr(self.stage, use).fingerprint() for use in type(self.stage).uses}
        for use, fingerprint in here.items():
            if fingerprint != fingerprints[use]:
                raise ConfigError(
                    f"service '{use}' on {this_worker()} is not the driver's ({fingerprint} vs {fingerprints[use]}).",
                    "install the same backends and models on every Ray node (see README, Scaling out).",
                )
        if {name: self.prompts.source(name) for name in prompt_texts} != prompt_texts:
            raise ConfigError(
                f"the prompt templates on {this_worker()} differ from the driver's.", "install the same storyforge."
            )

    async def run(self, ctx: dict, **inputs: Any) -> Ran:
        from storyforge.engine.contract import RunContext
        from storyforge.engine.executor import this_worker
        from storyforge.engine.runner import loaded_cuda

        services = {use: getattr(self.stage, use) for use in type(self.stage).uses}
        calls = {use: len(getattr(s, "usage", [])) for use, s in services.items()}
        if cuda := loaded_cuda():
            cuda.reset_peak_memory_stats()
        value, error, where = None, None, ""
        try:
            value = await self.stage.run(RunContext(prompts=self.prompts, **ctx), **inputs)
        except Exception as exc:
            error, where = _portable(exc), traceback.format_exc()
        cuda = loaded_cuda()  # again: the first item is often what imports torch
        return Ran(
            value=value,
            worker=this_worker(),
            peak_gpu_mb=round(cuda.max_memory_allocated() / 2**20, 1) if cuda else None,
            error=error,
            traceback=where,
            logs=self._lines(),
            usage={use: list(getattr(s, "usage", [])[calls[use] :]) for use, s in services.items() if hasattr(s, "usage")},
        )

    def _lines(self) -> list[tuple[str, int, str]]:
        lines, self.capture.lines = self.capture.lines, []
        return lines

    def close(self) -> None:
        for use in type(self.stage).uses:
            getattr(self.stage, use).close()


@dataclass
class _Pool:
    """A stage's actors. An item goes only to an actor Ray has placed: one queued on an actor still waiting for
    resources could wait for ever, since its own stage may hold them."""

    limit: int
    spawn: Any  # () -> a new actor handle
    actors: list = field(default_factory=list)
    starting: dict = field(default_factory=dict)  # __ray_ready__ ref -> actor not placed yet
    free: list = field(default_factory=list)
    busy: int = 0
    refs: dict = field(default_factory=dict)  # id(input) -> (input, ObjectRef): a shared input is sent once
    freed: anyio.Event = field(default_factory=anyio.Event)  # set when an actor comes back, then replaced

    def grow(self) -> None:
        actor = self.spawn()
        self.actors.append(actor)
        self.starting[actor.__ray_ready__.remote()] = actor

    def take(self) -> Any:
        """A placed, idle actor, or None; adds an actor when all are busy and the limit allows. Raises the
        error of an actor that could not set up its stage."""
        import ray

        if self.starting:
            placed, _ = ray.wait(list(self.starting), num_returns=len(self.starting), timeout=0)
            for ref in placed:
                actor = self.starting.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayActorError as err:  # Ray keeps only the text: its last line is the error
                    last = [line.strip() for line in str(err).splitlines() if line.strip()][-1:] or ["no detail"]
                    raise RuntimeError(f"a Ray actor could not set up the stage: {last[0]}") from None
                self.free.append(actor)
        if not self.free and not self.starting and len(self.actors) < self.limit:
            self.grow()
        if self.free:
            self.busy += 1
            return self.free.pop()
        return None

    def give_back(self, actor: Any) -> None:
        self.busy -= 1
        self.free.append(actor)
        self.freed.set()  # wake the waiters now
        self.freed = anyio.Event()

    def ref(self, value: Any) -> Any:
        import ray

        if (known := self.refs.get(id(value))) is None or known[0] is not value:
            known = self.refs[id(value)] = (value, ray.put(value))
        return known[1]


def _gpus(node: Node) -> float:
    return max((float(getattr(s.params, "num_gpus", 0.0)) for s in _services(node)), default=0.0)


def _services(node: Node) -> list:
    return [getattr(node.stage, use) for use in type(node.stage).uses]


class RayExecutor(Executor):
    """Ray actors for `for_each` items; a local Ray instance unless `address` names a cluster."""

    class Params(Executor.Params):
        address: str | None = knob(
            None, "Ray cluster to join ('auto', 'ray://host:10001'); None: RAY_ADDRESS or a local instance"
        )
        num_cpus: int | None = knob(None, "CPUs of a local instance (None: all)")
        actors: int = knob(2, "Actors per stage at most (each loads its own models)")
        cpus_per_actor: float = knob(1.0, "CPUs Ray reserves for each actor (torch on CPU uses that many threads)")
        stages: list[str] | None = knob(None, "for_each stages to send to Ray (None: all of them)")
        place_timeout_s: float | None = knob(
            None, "Longest a stage waits for Ray to place its first actor (None: as long as it takes; stages take turns)"
        )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pools: dict[str, _Pool] = {}
        self._using_ray = False
        self._graph: Graph | None = None
        self._prompts: PromptSet | None = None

    def start(self, graph: Graph, prompts: PromptSet) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("executor=ray needs Ray, which is not installed.", "pip install 'storyforge[ray]'.") from exc
        self._graph, self._prompts = graph, prompts
        unknown = set(self.params.stages or ()) - {n for n, node in graph.nodes.items() if node.for_each}
        if unknown:
            raise ConfigError(
                f"executor.stages names {sorted(unknown)}, which are not for_each stages of this recipe.",
                f"use some of {sorted(n for n, node in graph.nodes.items() if node.for_each)}.",
            )
        _acquire_ray(self.params.address, self.params.num_cpus)
        self._using_ray = True
        cluster_gpus, cluster_cpus = (ray.cluster_resources().get(k, 0.0) for k in ("GPU", "CPU"))
        if any(map(self.remote, graph.nodes.values())) and self.params.cpus_per_actor > cluster_cpus:
            raise ConfigError(
                f"executor.cpus_per_actor={self.params.cpus_per_actor:g} but the Ray cluster has {cluster_cpus:g} CPUs.",
                "lower executor.cpus_per_actor.",
            )
        for name, node in graph.nodes.items():
            need = _gpus(node) if self.remote(node) else 0.0
            if need > cluster_gpus:
                raise ConfigError(
                    f"stage '{name}' asks Ray for {need:g} GPU per actor (its services' num_gpus), but the Ray "
                    f"cluster has {cluster_gpus:g}.",
                    f"run where there are GPUs, or set num_gpus=0 on its services (e.g. {_service_key(node)}.num_gpus=0).",
                )

    def remote(self, node: Node) -> bool:
        return node.for_each is not None and (self.params.stages is None or node.name in self.params.stages)

    async def run(self, node: Node, ctx: RunContext, inputs: dict[str, Any]) -> Ran:
        if not self.remote(node):
            return await super().run(node, ctx, inputs)
        import ray

        pool = self._pools.get(node.name) or self._open(node)
        actor = await self._acquire(node, pool)
        fields = {"stage": ctx.stage, "item": ctx.item, "seed": ctx.seed, "scratch": ctx.scratch, "run_dir": ctx.run_dir,
                  "run_seed": ctx.run_seed}  # fmt: skip
        ref = actor.run.remote(fields, **{name: pool.ref(value) for name, value in inputs.items()})
        try:
            ran: Ran = await anyio.to_thread.run_sync(ray.get, ref, abandon_on_cancel=True)
        except ray.exceptions.RayActorError as err:  # the process is gone (OOM, node lost): do not reuse it
            raise RuntimeError(f"the Ray actor running stage '{node.name}' died: {str(err).splitlines()[0]}") from None
        except ray.exceptions.RayError as err:
            pool.give_back(actor)
            raise RuntimeError(f"Ray failed running stage '{node.name}': {str(err).splitlines()[-1]}") from None
        except BaseException:
            ray.cancel(ref)  # the actor may still be busy: it is not handed out again
            raise
        pool.give_back(actor)
        for name, level, message in ran.logs:
            logging.getLogger(name).log(level, "%s", message)
        for use, calls in ran.usage.items():
            getattr(node.stage, use).usage.extend(calls)
        if ran.error is not None:
            ran.error.add_note(f"raised in the Ray actor {ran.worker}:\n{ran.traceback}")
            raise ran.error
        return ran

    async def _acquire(self, node: Node, pool: _Pool) -> Any:
        """A placed, idle actor. Waiters wake when an actor comes back, and poll placement with backoff."""
        since, delay = time.monotonic(), 0.02
        while (actor := pool.take()) is None:
            timeout = self.params.place_timeout_s
            if timeout is not None and not pool.free and not pool.busy and time.monotonic() - since > timeout:
                raise RuntimeError(
                    f"Ray placed no actor for stage '{node.name}' in {timeout:g} s (each asks for "
                    f"{self.params.cpus_per_actor:g} CPU and {_gpus(node):g} GPU): the cluster is busy or too small. "
                    "Free it, add nodes, or raise executor.place_timeout_s."
                )
            with anyio.move_on_after(delay):
                await pool.freed.wait()
            delay = min(delay * 2, 0.5)
        return actor

    def _open(self, node: Node) -> _Pool:
        import ray

        gpus = _gpus(node)
        limit = max(1, self.params.actors)  # and never more than items running at once: it grows only when all are busy
        if gpus > 0:  # no more actors than the cluster could ever place (start() checked that one fits)
            limit = max(1, min(limit, math.floor(ray.cluster_resources().get("GPU", 0.0) / gpus)))
        graph, prompts = self._graph, self._prompts
        assert graph is not None and prompts is not None, "start() first"
        uses = type(node.stage).uses
        actor_cls = ray.remote(StageActor).options(num_gpus=gpus, num_cpus=self.params.cpus_per_actor, max_concurrency=1)
        args = (
            node.target,
            node.stage.params.model_dump(mode="json"),
            {use: graph.services_cfg[use] for use in uses},
            {use: getattr(node.stage, use).fingerprint() for use in uses},
            str(prompts.folder),
            {name: prompts.source(name) for name in type(node.stage).prompts},
        )
        pool = _Pool(limit, lambda: actor_cls.remote(*args))
        pool.grow()
        self._pools[node.name] = pool
        return pool

    async def stage_done(self, node: Node) -> None:
        pool = self._pools.pop(node.name, None)
        if pool is not None:
            await anyio.to_thread.run_sync(self._kill, pool)

    @staticmethod
    def _kill(pool: _Pool) -> None:
        """Idle actors unload their models first; busy ones (a cancelled run) and unplaced ones are just killed."""
        import ray

        try:
            ray.get([a.close.remote() for a in pool.free], timeout=60)
        except Exception:  # an actor that cannot close cleanly is killed all the same
            pass
        for actor in pool.actors:
            try:
                ray.kill(actor)
            except Exception as exc:  # already gone: nothing to free
                log.debug("ray.kill: %s", exc)

    def close(self) -> None:
        try:
            for pool in self._pools.values():
                self._kill(pool)
            self._pools.clear()
        finally:
            if self._using_ray:
                self._using_ray = False
                _release_ray()


def _service_key(node: Node) -> str:
    from storyforge.engine.graph import SERVICE_KEYS

    uses = [u for u in type(node.stage).uses if getattr(getattr(node.stage, u).params, "num_gpus", 0)]
    return SERVICE_KEYS.get(uses[0], uses[0]) if uses else "video"
