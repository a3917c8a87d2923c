"""LLM fan-out: 8 scenes planned against a local chat-completions server that adds 0.5 s latency per call,
first one call at a time (LLM_PARALLEL off), then with the parallel limit of 8. Target: >= 5x. (The test server
listens with a backlog of 128: socketserver's default of 5 refused part of each burst, and the benchmark measured
the server's queue, 2.8x, not the engine's.)

    python benchmarks/llm_parallel.py [--scenes 8] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storyforge.models import ScenePlan
from storyforge.services.llm.openai import OpenAILLM
from tests.support.chat_server import ChatServer

PLAN = '{"scene_index": 1, "shots": [{"scene_index": 1, "index": 1, "shot_type": "wide", "description": "d", "narration": "n", "duration_s": 3}]}'


async def plan_all(llm: OpenAILLM, scenes: int) -> None:
    async with anyio.create_task_group() as tg:  # what the engine does for a for_each stage
        for i in range(scenes):
            tg.start_soon(llm.generate, "plan_shots", f"Plan scene {i + 1}.", ScenePlan, {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    with ChatServer([PLAN], latency_s=args.latency) as server:
        timings = {}
        for label, parallel in (("sequential", False), ("parallel", True)):
            llm = OpenAILLM(model="bench", base_url=server.base_url, max_concurrency=1, parallel=parallel, parallel_limit=8)
            start = time.perf_counter()
            anyio.run(plan_all, llm, args.scenes)
            timings[label] = time.perf_counter() - start
    print(f"{args.scenes} scenes, {args.latency} s latency per call")
    print(f"sequential (limit 1): {timings['sequential']:.2f} s")
    print(f"parallel   (limit 8): {timings['parallel']:.2f} s")
    print(f"speed-up: {timings['sequential'] / timings['parallel']:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
