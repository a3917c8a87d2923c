"""`executor=ray`: the items of `for_each` stages run on Ray actors, one stage (and its models) per actor.

Each actor builds its stage from the recipe's data (target, params, service configs) rather than receiving
the driver's objects, so models load once per actor and nothing unpicklable travels. An actor asks Ray for
the largest `num_gpus` among its stage's services (their config; 0 by default, 1 for the models
`profile=prod_gpu` loads), and a stage gets at most `actors` of them, fewer when the cluster has fewer GPUs.
Actors are removed as soon as their stage has no more items, which frees their GPUs for the next stage.

The driver keeps everything else: cache keys, hits, chaining (`previous`), the store and the manifest, so a
run gives the same outputs as `executor=local`. Actors write their files to a scratch folder inside the
cache, which on a cluster must be shared storage (the same path on every node) -- see README, "Scaling out".
Whole stages (ingest, scene splitting, music, compose) stay in the driver.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from storyforge.engine.contract import knob
from storyforge.engine.executor import Executor, Ran
from storyforge.errors import ConfigError

if TYPE_CHECKING:
    from storyforge.engine.contract import RunContext
    from storyforge.engine.graph import Graph, Node


_RAY_LOCK = threading.Lock()
_runs_using_ray = 0  # runs of this process (API workers, threads) using Ray now
_we_started_ray = False  # shut Ray down when the last of them ends only if we started it


def _acquire_ray(address: str | None, num_cpus: int | None) -> None:
    global _runs_using_ray, _we_started_ray
    import ray

    with _RAY_LOCK:
        if not ray.is_initialized():
            local = {"num_cpus": num_cpus} if address is None else {}
            ray.init(address=address, include_dashboard=False, configure_logging=False, **local)
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


class StageActor:
    """A Ray actor's body: one stage with its own services, running one item at a time."""

    def __init__(self, target: str, params: dict, services_cfg: dict) -> None:
        from storyforge.engine.graph import instantiate_stage

        self.stage = instantiate_stage(target, params, services_cfg)

    async def run(self, ctx: dict, prompts: str, inputs: dict[str, Any]) -> Ran:
        from pathlib import Path

        from storyforge.engine.contract import PromptSet, RunContext
        from storyforge.engine.executor import this_worker

        torch = _cuda_torch()
        if torch is not None:
            torch.cuda.reset_peak_memory_stats()
        value = await self.stage.run(RunContext(prompts=PromptSet(Path(prompts)), **ctx), **inputs)
        peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch is not None else None
        return Ran(value=value, worker=this_worker(), peak_gpu_mb=peak)

    def close(self) -> None:
        for use in type(self.stage).uses:
            getattr(self.stage, use).close()


def _cuda_torch() -> Any:
    import sys

    torch = sys.modules.get("torch")
    return torch if torch is not None and torch.cuda.is_available() else None


@dataclass
class _Pool:
    """A stage's actors, handed out one item at a time, and only once Ray has placed them: an item queued on an
    actor still waiting for resources could wait for ever (its own stage holds them), so it waits for a placed one."""

    actors: list
    starting: dict = field(default_factory=dict)  # __ray_ready__ ref -> actor not placed yet
    free: list = field(default_factory=list)

    def take(self) -> Any:
        """A placed, idle actor, or None. Raises the error of an actor that could not start (its stage's setup)."""
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
        return self.free.pop() if self.free else None


def _gpus(node: Node) -> float:
    return max((float(getattr(s.params, "num_gpus", 0.0)) for s in _services(node)), default=0.0)


def _services(node: Node) -> list:
    return [getattr(node.stage, use) for use in type(node.stage).uses]


class RayExecutor(Executor):
    """Ray tasks for `for_each` items; a local Ray instance unless `address` names a cluster."""

    name = "ray"

    class Params(Executor.Params):
        address: str | None = knob(
            None, "Ray cluster to join ('auto', 'ray://host:10001'); None: RAY_ADDRESS or a local instance"
        )
        num_cpus: int | None = knob(None, "CPUs of a local instance (None: all)")
        actors: int = knob(2, "Actors per stage at most (each loads its own models)")
        cpus_per_actor: float = knob(1.0, "CPUs Ray reserves for each actor")
        stages: list[str] | None = knob(None, "for_each stages to send to Ray (None: all of them)")
        place_timeout_s: float = knob(900.0, "Longest a stage waits for Ray to place its first actor")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pools: dict[str, _Pool] = {}
        self._using_ray = False
        self._graph: Graph | None = None

    def start(self, graph: Graph) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("executor=ray needs Ray, which is not installed.", "pip install 'storyforge[ray]'.") from exc
        self._graph = graph
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

    async def run(self, node: Node, ctx: RunContext, inputs: dict[str, Any], items: int) -> Ran:
        if not self.remote(node):
            return await super().run(node, ctx, inputs, items)
        import ray

        pool = self._pools.get(node.name) or self._open(node, items)
        since = time.monotonic()
        while (actor := pool.take()) is None:
            if time.monotonic() - since > self.params.place_timeout_s and len(pool.starting) == len(pool.actors):
                raise RuntimeError(
                    f"Ray placed no actor for stage '{node.name}' in {self.params.place_timeout_s:g} s (each asks for "
                    f"{self.params.cpus_per_actor:g} CPU and {_gpus(node):g} GPU): the cluster is busy or too small. "
                    "Free it, add nodes, or raise executor.place_timeout_s."
                )
            await anyio.sleep(0.05)
        fields = {"stage": ctx.stage, "item": ctx.item, "seed": ctx.seed, "scratch": ctx.scratch, "run_dir": ctx.run_dir,
                  "run_seed": ctx.run_seed}  # fmt: skip
        ref = actor.run.remote(fields, str(ctx.prompts.folder), inputs)
        try:
            return await anyio.to_thread.run_sync(ray.get, ref, abandon_on_cancel=True)
        except ray.exceptions.RayTaskError as err:  # the stage raised: the user wants that error, not Ray's wrapper
            cause = getattr(err, "cause", None)
            raise (cause if isinstance(cause, Exception) else RuntimeError(str(err).splitlines()[-1])) from None
        except ray.exceptions.RayActorError as err:
            raise RuntimeError(f"the Ray actor running stage '{node.name}' died ({type(err).__name__}).") from None
        except BaseException:
            ray.cancel(ref)
            raise
        finally:
            pool.free.append(actor)

    def _open(self, node: Node, items: int) -> _Pool:
        import ray

        gpus = _gpus(node)
        size = max(1, min(self.params.actors, items))
        if gpus > 0:  # no more actors than the cluster could ever place (the check in start() makes this >= 1)
            size = max(1, min(size, math.floor(ray.cluster_resources().get("GPU", 0.0) / gpus)))
        cfg = self._graph.services_cfg if self._graph else {}
        actor_cls = ray.remote(StageActor).options(num_gpus=gpus, num_cpus=self.params.cpus_per_actor, max_concurrency=1)
        services = {use: cfg[use] for use in type(node.stage).uses}
        params = node.stage.params.model_dump(mode="json")
        pool = _Pool([actor_cls.remote(node.target, params, services) for _ in range(size)])
        pool.starting = {actor.__ray_ready__.remote(): actor for actor in pool.actors}
        self._pools[node.name] = pool
        return pool

    async def stage_done(self, node: Node) -> None:
        pool = self._pools.pop(node.name, None)
        if pool is not None:
            await anyio.to_thread.run_sync(self._kill, pool.actors)

    @staticmethod
    def _kill(actors: list) -> None:
        import ray

        try:
            ray.get([a.close.remote() for a in actors], timeout=60)
        except Exception:  # an actor that cannot close cleanly is killed all the same
            pass
        for actor in actors:
            ray.kill(actor)

    def close(self) -> None:
        for pool in self._pools.values():
            self._kill(pool.actors)
        self._pools.clear()
        if self._using_ray:
            _release_ray()
            self._using_ray = False


def _service_key(node: Node) -> str:
    from storyforge.engine.graph import SERVICE_KEYS

    uses = [u for u in type(node.stage).uses if getattr(getattr(node.stage, u).params, "num_gpus", 0)]
    return SERVICE_KEYS.get(uses[0], uses[0]) if uses else "video"
