"""Studio turnaround: how long a person waits for a revision's video after editing a finished job in the browser,
measured through the HTTP API the page uses, against a real `storyforge-serve` on profile=debug_cpu.

The bundled example story (or `--story`) with a fresh data directory and cache: the first video, then revisions
of it, each timed from `POST /v1/jobs/{id}/revisions` to the job reported succeeded (polled every 0.1 s):
- one shot's description edited (target < 15 s),
- one character's description edited (every shot that shows them is redrawn),
- a new take of one shot's picture.
Prints for each: seconds, share of the first video's time, the items remade (pictures, voices, segments) and
target met/missed.

    python benchmarks/studio.py [--story FILE] [--shot s01_02] [--width 1280 --height 720 --fps 15]

Without --width/--height/--fps the server renders at the profile's size (debug_cpu: 1280x720 at 15 fps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.serve import Server  # noqa: E402

KEY = "k-studio"
TARGET_S = 15.0
DESCRIPTION = "A red door in the fog at the end of the pier, its paint peeling, a brass lantern hanging beside it"


def timed(server: Server, path: str, body: dict) -> tuple[dict, float]:
    """POST a job or a revision and wait for it to succeed: the job and the seconds from the request to that."""
    started = time.perf_counter()
    made = server.http.post(path, json=body)
    if made.status_code not in (200, 202):
        sys.exit(f"POST {path} answered {made.status_code}: {made.text}")
    job = server.wait_for(made.json()["id"], lambda j: j["status"] in ("succeeded", "failed", "cancelled"), timeout=1800)
    seconds = time.perf_counter() - started
    if job["status"] != "succeeded":
        sys.exit(f"job {job['id']} {job['status']}: {job['error']}")
    return job, seconds


def remade(server: Server, job_id: str) -> str:
    stages = server.http.get(f"/v1/jobs/{job_id}/artifacts/manifest.json").json()["stages"]
    counts = {name: sum(not i["hit"] for i in stages[name]["items"]) for name in ("visuals", "narration", "segments")}
    return f"{counts['visuals']} pictures, {counts['narration']} voices, {counts['segments']} segments"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--story", type=Path, help="story file (default: the bundled example)")
    parser.add_argument("--shot", default="s01_02", help="the shot to edit")
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--fps", type=int)
    args = parser.parse_args()
    from storyforge.resources import asset

    story = (args.story or Path(asset("example_story.txt"))).read_text(encoding="utf-8")
    size = [f"render.{k}={v}" for k, v in (("width", args.width), ("height", args.height), ("fps", args.fps)) if v]
    with tempfile.TemporaryDirectory(prefix="storyforge-studio-") as tmp:
        server = Server(Path(tmp) / "data", KEY, env={"STORYFORGE_SERVER_OVERRIDES": " ".join(["profile=debug_cpu", *size])})
        try:
            first, first_s = timed(server, "/v1/jobs", {"story": story, "profile": "debug_cpu"})
            cast = server.http.get(f"/v1/jobs/{first['id']}/cast").json()["characters"]
            character = max(cast, key=lambda c: len(c["shots"]), default=None)
            edits = [("one shot's description", {"shots": {args.shot: {"description": DESCRIPTION}}})]
            if character:
                look = {"cast": {character["name"]: {"description": "a tall stranger in a green oilskin coat"}}}
                edits.append((f"{character['name']}'s description ({len(character['shots'])} shots)", look))
            edits.append((f"a new take of {args.shot}", {"shots": {args.shot: {"take": 1}}}))
            print(f"first video: {first_s:.1f} s ({first['duration_s']:.0f} s of video, {remade(server, first['id'])})")
            print(f"{'revision':<34} {'seconds':>8} {'share':>7}  remade")
            description_s = None
            for label, body in edits:
                job, seconds = timed(server, f"/v1/jobs/{first['id']}/revisions", body)
                description_s = seconds if description_s is None else description_s
                print(f"{label:<34} {seconds:8.1f} {seconds / first_s:7.1%}  {remade(server, job['id'])}")
            met = "met" if description_s < TARGET_S else "missed"
            print(f"description edit to video: {description_s:.1f} s, target < {TARGET_S:.0f} s: {met}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
