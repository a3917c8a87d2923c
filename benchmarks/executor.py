"""Executor overhead: the bundled example story on profile=debug_cpu, cold cache, run side by side by
- executor=local (every unit in this process under anyio), and
- executor=ray on a local instance (for_each items on Ray actors; Ray's start-up is timed apart).

Prints each for_each stage's seconds and the whole run's, and the ratio ray/local. On one small machine Ray
cannot be faster (same cores, plus process hops and per-stage actor start-up); the figure says what the hop
costs, so that spreading over a cluster's GPUs is worth it only when items take longer than that.

    python benchmarks/executor.py [--tts tone|espeak] [--actors 2] [--story FILE]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from storyforge.config import compose
from storyforge.engine.pipeline import run_pipeline

FAN_OUT = ("plan", "visuals", "narration")


def one(tmp: Path, name: str, overrides: list[str]) -> tuple[float, dict[str, float]]:
    cfg, _ = compose(["profile=debug_cpu", f"cache.dir={tmp / name / 'cache'}", *overrides])
    started = time.perf_counter()
    manifest = run_pipeline(cfg, tmp / name / "run").manifest
    return time.perf_counter() - started, {s: manifest.stages[s].seconds for s in FAN_OUT}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tts", default="tone")
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--story", default=None, help="a story file (default: the bundled example)")
    args = ap.parse_args()
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    t0 = time.perf_counter()
    ray.init(include_dashboard=False, configure_logging=False)
    ray_start = time.perf_counter() - t0
    common = [f"audio/tts={args.tts}", *([f"story={args.story}"] if args.story else [])]
    with tempfile.TemporaryDirectory() as tmp:
        local = one(Path(tmp), "local", common)
        remote = one(Path(tmp), "ray", [*common, "executor=ray", f"executor.actors={args.actors}"])
    ray.shutdown()
    print(f"ray.init (local instance, {os.cpu_count()} CPUs): {ray_start:.1f} s, not counted below")
    print(f"{'stage':<12}{'local s':>10}{'ray s':>10}{'ray/local':>11}")
    for stage in FAN_OUT:
        a, b = local[1][stage], remote[1][stage]
        print(f"{stage:<12}{a:>10.2f}{b:>10.2f}{b / a:>11.2f}")
    print(f"{'whole run':<12}{local[0]:>10.2f}{remote[0]:>10.2f}{remote[0] / local[0]:>11.2f}")


if __name__ == "__main__":
    main()
