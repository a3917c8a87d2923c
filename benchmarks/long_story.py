"""Long story, end to end: a story of 25,000+ words (benchmarks/storygen.py, seeded; or `--story` a real book)
through profile=debug_cpu, each size cold (its own fresh cache) in its own spawned process.

Sizes are prefixes of the story cut at paragraphs to give about 50 and 200 shots (words per shot from a
planning-only calibration of the whole story), then the full story. For each size it prints words, scenes,
shots, minutes of video, the run's wall time, each composition stage's seconds (compose, segments, mix, film:
stage wall times from the manifest, which overlap, segments and mix running side by side) and their sum per
output minute, the CPU seconds of the whole run (pipeline process and ffmpeg children, less sensitive to other
load on the machine) per output minute, and the peak RSS of the pipeline process (RUSAGE_SELF in the child)
and of its largest child process (RUSAGE_CHILDREN: ffmpeg; also sampled from /proc, see the output).

Targets: composition grows linearly with the film (per-minute figure of the largest size over the smallest's
<= 1.25); peak RSS < 1.5 GB for every process, at every size.

    python benchmarks/long_story.py [--words 25000] [--seed 7] [--story FILE] [--sizes 50,200,full] [--keep DIR] [OVERRIDE ...]

OVERRIDEs go to every run, e.g. `render.width=640 render.height=360 render.fps=12` for a faster run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # storygen, also in the spawned children
from storygen import generate

COMPOSITION = ("compose", "segments", "mix", "film")
PLAN_ONLY = [f"~stages.{s}" for s in ("portraits", "visuals", "identity", "narration", "music", *COMPOSITION)]
RSS_TARGET_MB = 1.5 * 1024
LINEAR_TARGET = 1.25


def words(text: str) -> int:
    from storyforge import text as tx

    return len(tx.words(text))


class DescendantPeak(threading.Thread):
    """Samples the peak RSS (VmHWM) of this process's descendants in /proc every `every` seconds (Linux),
    skipping those still named as this process: a child between fork and exec shares this process's memory."""

    def __init__(self, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.every, self.peak_kb, self.done = every, 0, threading.Event()

    def run(self) -> None:
        me = os.getpid()
        my_name = Path(f"/proc/{me}/comm").read_text()
        while not self.done.wait(self.every):
            parents = {}
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    parents[int(pid)] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
            family, grew = {me}, True
            while grew:
                more = {pid for pid, ppid in parents.items() if ppid in family} - family
                family, grew = family | more, bool(more)
            for pid in family - {me}:
                try:
                    if Path(f"/proc/{pid}/comm").read_text() == my_name:
                        continue
                    hwm = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
                except OSError:
                    continue
                if hwm:
                    self.peak_kb = max(self.peak_kb, int(hwm.group(1)))


def cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children (ffmpeg) so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def pipeline(overrides: list[str], run_dir: str) -> dict:
    """In a spawned child: one pipeline run; its manifest figures and this process's peak RSS figures."""
    from storyforge.config import compose
    from storyforge.engine.pipeline import run_pipeline
    from storyforge.engine.progress import Reporter

    cfg, reason = compose(["profile=debug_cpu", *overrides])
    sampler = DescendantPeak()
    if Path("/proc/self/status").exists():
        sampler.start()
    started, cpu = time.perf_counter(), cpu_seconds()
    manifest = run_pipeline(cfg, Path(run_dir), reporter=Reporter(bars=False), profile_reason=reason).manifest
    sampler.done.set()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_s": cpu_seconds() - cpu,
        "stages": {name: {"seconds": s.seconds, "hits": s.hits, "misses": s.misses} for name, s in manifest.stages.items()},
        "quality": manifest.quality,
        "rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        # the largest reaped child; Linux counts in it this process's RSS at the fork, so it is never below that
        "rss_children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "rss_sampled_mb": sampler.peak_kb / 1024,  # the children's own peaks, as sampled
    }


def in_child(overrides: list[str], run_dir: Path) -> tuple[dict, float]:
    """`pipeline` in a fresh spawned process, and the wall time including that process's start."""
    started = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(pipeline, overrides, str(run_dir)).result()
    return result, time.perf_counter() - started


def prefix(text: str, target_words: int) -> str:
    """The story's first paragraphs (whole blocks between blank lines) up to about `target_words`."""
    blocks, out, count = re.split(r"\n\s*\n", text.strip()), [], 0
    for block in blocks:
        out.append(block)
        count += words(block)
        if count >= target_words:
            break
    return "\n\n".join(out) + "\n"


def parse_sizes(spec: str) -> list[int | None]:
    """'50,200,full' -> [50, 200, None] (None: the whole story)."""
    return [None if s.strip().lower() in ("full", "all") else int(s) for s in spec.split(",") if s.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--words", type=int, default=25_000, help="length of the generated story")
    ap.add_argument("--seed", type=int, default=7, help="seed of the generated story")
    ap.add_argument("--story", default=None, help="a story file (e.g. a real book) instead of the generated one")
    ap.add_argument("--sizes", default="50,200,full", help="shot counts to run, smallest first; full: the whole story")
    ap.add_argument("--keep", default=None, help="a folder to copy each size's manifest.json into")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. render.width=640")
    args = ap.parse_args()
    bench_start = time.perf_counter()
    text = Path(args.story).read_text(encoding="utf-8") if args.story else generate(args.words, args.seed)
    total_words = words(text)
    with tempfile.TemporaryDirectory(prefix="sf-long-") as tmp_name:
        tmp = Path(tmp_name)
        full = tmp / (Path(args.story).name if args.story else f"generated_{args.words}w_seed{args.seed}.txt")
        full.write_text(text, encoding="utf-8")
        _, calib_s = in_child([f"story={full}", "cache.mode=off", *args.overrides, *PLAN_ONLY], tmp / "calibration")
        full_shots = len(json.loads((tmp / "calibration" / "shots.json").read_text())["shots"])
        per_shot = total_words / full_shots
        print(f"story: {args.story or f'generated (seed {args.seed})'}: {total_words} words, {full_shots} shots planned")
        print(f"calibration (planning only, {calib_s:.1f} s): {per_shot:.1f} words per shot")
        print(f"overrides: {' '.join(args.overrides) or '(none: profile=debug_cpu defaults)'}")
        sizes, seen = [], set()
        for n in parse_sizes(args.sizes):
            target = None if n is None or n >= full_shots else round(n * per_shot)
            if target not in seen:
                seen.add(target)
                sizes.append((n, target))
        print(f"machine: {os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.1f}")
        print(
            f"{'size':>6} {'words':>7} {'scenes':>6} {'shots':>6} {'video min':>9} {'wall s':>8} {'compose':>8} {'segments':>9} "
            f"{'mix':>7} {'film':>6} {'comp s':>8} {'s/min':>7} {'CPU s':>8} {'CPU/min':>7} {'load':>5} "
            f"{'RSS MB':>7} {'child MB':>9} {'sampled':>7}",
            flush=True,
        )
        rows = []
        for n, target in sizes:
            name = "full" if target is None else str(n)
            story = full if target is None else tmp / f"prefix_{n}.txt"
            if target is not None:
                story.write_text(prefix(text, target), encoding="utf-8")
            work = tmp / f"size_{name}"
            res, wall = in_child([f"story={story}", f"cache.dir={work / 'cache'}", *args.overrides], work / "run")
            if args.keep:
                Path(args.keep).mkdir(parents=True, exist_ok=True)
                shutil.copy(work / "run" / "manifest.json", Path(args.keep) / f"manifest_{name}.json")
            shutil.rmtree(work, ignore_errors=True)  # a long film is GBs of segments
            q, st = res["quality"], res["stages"]
            minutes = q["video_s"] / 60
            row = {
                "name": name, "minutes": minutes, "comp": sum(st[s]["seconds"] for s in COMPOSITION), "cpu": res["cpu_s"],
                "self": res["rss_self_mb"], "child": res["rss_children_mb"], "sampled": res["rss_sampled_mb"],
            }  # fmt: skip
            rows.append(row)
            print(
                f"{name:>6} {words(story.read_text(encoding='utf-8')):>7} {q['scenes']:>6} {q['shots']:>6} {minutes:>9.1f} {wall:>8.1f} "
                + " ".join(f"{st[s]['seconds']:>{w}.1f}" for s, w in zip(COMPOSITION, (8, 9, 7, 6), strict=True))
                + f" {row['comp']:>8.1f} {row['comp'] / minutes:>7.2f} {row['cpu']:>8.1f} {row['cpu'] / minutes:>7.2f}"
                + f" {os.getloadavg()[0]:>5.1f} {row['self']:>7.0f} {row['child']:>9.0f} {row['sampled']:>7.0f}",
                flush=True,
            )
    for key, what in (("comp", "composition s"), ("cpu", "CPU s (whole run)")):
        ratio = (rows[-1][key] / rows[-1]["minutes"]) / (rows[0][key] / rows[0]["minutes"])
        verdict = "target met" if ratio <= LINEAR_TARGET else "target missed"
        figures = ", ".join(f"{r['name']}: {r[key] / r['minutes']:.2f}" for r in rows)
        print(f"{what} per output minute: {figures}; largest/smallest {ratio:.2f} (target <= {LINEAR_TARGET}: {verdict})")
    peak_self, peak_child, sampled = (max(r[k] for r in rows) for k in ("self", "child", "sampled"))
    met = max(peak_self, peak_child) < RSS_TARGET_MB
    print(
        f"peak RSS: pipeline process {peak_self:.0f} MB, largest child (RUSAGE_CHILDREN) {peak_child:.0f} MB "
        f"(target < 1.5 GB each: {'target met' if met else 'target missed'})"
    )
    print(
        f"  RUSAGE_CHILDREN is at least the pipeline's RSS when it forked (Linux keeps it across exec); the children's "
        f"own peaks (after exec), sampled from /proc every 0.1 s: {sampled:.0f} MB"
    )
    print(f"benchmark wall time: {time.perf_counter() - bench_start:.1f} s")


if __name__ == "__main__":
    main()
