"""Engine overhead per cached item: 500 trivial `for_each` items, run cold then warm, side by side.

The stage itself does nothing (squares an int), so the warm run's time is the engine's own cost per item:
key computation, index lookup, blob read and verification, JSON validation, bookkeeping. Target: < 5 ms.

    python benchmarks/engine_overhead.py [--items 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from pydantic import BaseModel

from storyforge.engine.cache import Cache
from storyforge.engine.contract import PromptSet, RunContext, Stage
from storyforge.engine.graph import Graph, Node
from storyforge.engine.progress import Reporter
from storyforge.engine.runner import Runner
from storyforge.models import StoryInput

TARGET_MS = 5.0


class Number(BaseModel):
    n: int


class Numbers(BaseModel):
    items: list[Number]

    def fan_out(self) -> list[Number]:
        return self.items


class Count(Stage):
    def __init__(self, items: int) -> None:
        super().__init__(Stage.Params(), {})
        self.items = items

    async def run(self, ctx: RunContext, source: StoryInput) -> Numbers:
        return Numbers(items=[Number(n=i) for i in range(self.items)])


class Square(Stage):
    async def run(self, ctx: RunContext, number: Number) -> Number:
        return Number(n=number.n * number.n)


def graph(items: int) -> Graph:
    nodes = {
        "count": Node("count", "bench.Count", Count(items), {"source": "source"}, None, Numbers),
        "square": Node("square", "bench.Square", Square(Stage.Params(), {}), {"number": "count"}, "count", Number),
    }
    return Graph(nodes, ["count", "square"], {})


def run_once(root: Path, items: int, run_dir: Path) -> tuple[float, Runner]:
    cache = Cache(root / "cache")
    runner = Runner(graph(items), cache, PromptSet(root), 0, run_dir, Reporter(bars=False))
    run_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    anyio.run(runner.run, StoryInput(text="x", source="bench"))
    elapsed = time.perf_counter() - start
    cache.close()
    return elapsed, runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            t_cold, _ = run_once(root, args.items, root / "cold")
            t_warm, runner = run_once(root, args.items, root / "warm")
            assert runner.records["square"].hits == args.items, "warm run was not all hits"
            cold.append(t_cold / args.items * 1000)
            warm.append(t_warm / args.items * 1000)
    cold_ms, warm_ms = statistics.median(cold), statistics.median(warm)
    print(f"items: {args.items}, repeats: {args.repeat} (medians)")
    print(f"cold (compute + store) per item: {cold_ms:.3f} ms")
    print(f"warm (cache hit) per item:       {warm_ms:.3f} ms")
    print(f"warm / cold ratio:               {warm_ms / cold_ms:.2f}")
    print(
        f"target / warm ratio:             {TARGET_MS / warm_ms:.1f}x under the {TARGET_MS:.0f} ms target"
        if warm_ms < TARGET_MS
        else f"OVER TARGET: {warm_ms:.2f} ms > {TARGET_MS} ms"
    )


if __name__ == "__main__":
    main()
