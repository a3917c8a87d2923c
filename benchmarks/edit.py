"""Edit turnaround: how long a user waits for the new final.mp4 after editing one shot of a finished film.

The bundled example story (or `--story`) on profile=debug_cpu with a fresh cache: a cold run, then
- a description edit of one shot (`+stages.shots.edits.<id>.description=...`): target < 10 s, and
- a narration edit of the same shot, longer than it was, so the shot grows and every later shot moves in
  time (`+stages.shots.edits.<id>.narration=...`): target < 15 s.
Each run is `python -m storyforge ...` in a subprocess, timed by the wall clock including the process's
start, as a user feels it. Prints for each: seconds, share of the cold run, the stages that missed (misses and
the stage's seconds, from the manifest), whether final.mp4 changed, and target met/missed.

    python benchmarks/edit.py [--story FILE] [--shot s01_02] [OVERRIDE ...]

OVERRIDEs go to every run, e.g. `render.width=320 render.height=180 render.fps=12` for a quick check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DESCRIPTION = "A red door in the fog at the end of the pier, its paint peeling, a brass lantern hanging beside it"
MORE_NARRATION = (
    "Far out beyond the harbour wall a bell rang twice across the grey water, and for a long moment nobody on "
    "the pier said a single word, as if the whole town were listening for a third."
)
TARGETS = {"description": 10.0, "narration": 15.0}


def hydra_quoted(text: str) -> str:
    """`text` as a quoted Hydra override value: quotes, backslashes and interpolations escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def storyforge(args: list[str], cwd: Path) -> float:
    """Run the CLI as a user would; its wall time, process start and exit included."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "storyforge", *args], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"storyforge {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return seconds


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def starts(run: Path) -> dict[str, float]:
    return {e["shot_id"]: e["start_s"] for e in json.loads((run / "video.json").read_text())["timeline"]["entries"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--story", default=None, help="a story file (default: the bundled example)")
    ap.add_argument("--shot", default=None, help="the shot to edit (default: the story's second shot)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. render.width=320")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sf-edit-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "work").mkdir()
        story = [f"story={Path(args.story).resolve()}"] if args.story else []
        common = ["profile=debug_cpu", f"cache.dir={tmp / 'cache'}", *story, *args.overrides]
        runs: dict[str, tuple[float, Path]] = {}

        def run(name: str, *extra: str) -> None:
            runs[name] = (storyforge([*common, f"output.dir={tmp / name}", *extra], tmp / "work"), tmp / name)

        run("cold")
        cold_s, cold = runs["cold"]
        shots = json.loads((cold / "shots.json").read_text())["shots"]
        ids = [f"s{s['scene_index']:02d}_{s['index']:02d}" for s in shots]
        shot_id = args.shot or ids[min(1, len(ids) - 1)]
        if shot_id not in ids:
            sys.exit(f"--shot {shot_id}: the plan has {', '.join(ids[:6])}...")
        old = shots[ids.index(shot_id)]
        quality = json.loads((cold / "manifest.json").read_text())["quality"]
        print(f"story: {args.story or 'bundled example'}: {len(ids)} shots, {quality['video_s'] / 60:.1f} min of video")
        print(f"overrides: {' '.join(args.overrides) or '(none: profile=debug_cpu defaults)'}; edited shot: {shot_id}")
        print(f"cold run: {cold_s:.1f} s")
        edit = f"+stages.shots.edits.{shot_id}"
        run("description", f"{edit}.description={hydra_quoted(DESCRIPTION)}")
        run("narration", f"{edit}.narration={hydra_quoted(old['narration'] + ' ' + MORE_NARRATION)}")
        cold_mp4 = sha256(cold / "final.mp4")
        for name, target in TARGETS.items():
            seconds, out = runs[name]
            manifest = json.loads((out / "manifest.json").read_text())
            missed = ", ".join(
                f"{stage}: {r['misses']} ({r['seconds']:.1f} s)" for stage, r in manifest["stages"].items() if r["misses"]
            )
            mp4 = out / "final.mp4"
            changed = "changed" if mp4.exists() and sha256(mp4) != cold_mp4 else ("unchanged" if mp4.exists() else "missing")
            print(f"{name} edit: {seconds:.1f} s, {seconds / cold_s:.0%} of the cold run (pipeline {manifest['seconds']:.1f} s)")
            print(f"  missed: {missed or '(nothing)'}")
            moved = ""
            if name == "narration":
                before, after = starts(cold), starts(out)
                later = ids[ids.index(shot_id) + 1 :]
                shifted = [after[i] - before[i] for i in later if abs(after[i] - before[i]) > 1e-6]
                film = manifest["quality"]["video_s"] - quality["video_s"]
                moved = f"; later shots moved: {len(shifted)} of {len(later)}" + (f" by {shifted[0]:+.2f} s" if shifted else "")
                moved += f"; film {film:+.2f} s"
            print(f"  final.mp4 {changed}{moved}")
            ok = seconds < target and changed == "changed"
            print(f"  target < {target:.0f} s: {'target met' if ok else 'target missed'}")


if __name__ == "__main__":
    main()
