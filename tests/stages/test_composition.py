"""The film from cached segments, through the pipeline: a failing segment names its shot and the rest stay
cached; a full disk is one clear error; cancelling, Ctrl-C or SIGTERM during composition leaves no ffmpeg behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from storyforge.config import compose
from storyforge.engine.pipeline import run_pipeline
from storyforge.engine.progress import Reporter
from storyforge.errors import StageFailed, StoryforgeError
from storyforge.services.compositor.ffmpeg import FFmpegCompositor
from storyforge.services.video.storyboard import StoryboardVideo
from storyforge.timeline import plan_pieces
from tests.conftest import FIXTURES, ROOT
from tests.services.test_ffmpeg_compositor import make

STORY = (f"story={FIXTURES / 'two_scenes.txt'}", "++stages.plan.shot_words=12")  # 2 scenes, 2 shots each


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention `text` (e.g. a test's cache folder)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(pid) != os.getpid():
            found.append(cmdline)
    return found


def test_a_failing_segment_names_its_shot_and_the_others_stay_cached(run, monkeypatch):
    original = StoryboardVideo._draw

    def one_bad_picture(self, shot, scene_index, out, cast=()):
        path = original(self, shot, scene_index, out, cast)
        if shot.id == "s02_01":
            path.write_bytes(b"\x89PNG but not really")
        return path

    monkeypatch.setattr(StoryboardVideo, "_draw", one_bad_picture)
    with pytest.raises(StageFailed, match=r"stage 'segments' item '.*s02_01' failed: the picture of shots/s02_01.png: it is not"):
        run(*STORY, "stages.visuals.style=broken", name="failed")  # another style: the broken picture is cached apart
    monkeypatch.setattr(StoryboardVideo, "_draw", original)
    resumed = run(*STORY)  # the cards do not show the style: the other pictures are the same bytes
    redone = [i.item for i in resumed.manifest.stages["segments"].items if not i.hit]
    assert resumed.video is not None and redone == ["s01_02-s02_01", "s02_01", "s02_01-s02_02"]  # only what failed

    def flaky_disk(self, piece, out, log_dir=None):
        if piece.id == "s02_02":
            return anyio.to_thread.run_sync(lambda: (_ for _ in ()).throw(StoryforgeError("the disk is full", "free space")))
        return original_render(self, piece, out, log_dir)

    original_render = FFmpegCompositor.render_segment
    monkeypatch.setattr(FFmpegCompositor, "render_segment", flaky_disk)
    with pytest.raises(StageFailed, match=r"item 's02_02' failed: the disk is full"):
        run(*STORY, "stages.compose.fps=10", name="full")
    monkeypatch.setattr(FFmpegCompositor, "render_segment", original_render)
    again = run(*STORY, "stages.compose.fps=10")
    assert [i.item for i in again.manifest.stages["segments"].items if not i.hit] == ["s02_02"]  # the rest were kept


def test_a_full_disk_is_one_clear_error(tmp_path):
    tl, visuals, *_ = make(tmp_path, scenes=1, per_scene=1, tail_s=0.2)
    piece = plan_pieces(tl, visuals)[0]
    with pytest.raises(StoryforgeError, match="the disk is full") as caught:
        anyio.run(FFmpegCompositor(preset="ultrafast").render_segment, piece, Path("/dev/full"), tmp_path)
    assert "cache.dir" in caught.value.fix


class Stop(Exception):
    run_status = "cancelled"


def test_cancelling_during_composition_kills_its_ffmpeg_processes(tmp_path):
    cache = tmp_path / "cache"
    cfg, _ = compose(["profile=debug_cpu", *STORY, f"cache.dir={cache}", "render=1080p", "render.fps=24"])
    started: list[float] = []

    def on_event(event: dict) -> None:
        if event["event"] == "stage_started" and event["stage"] == "segments":
            started.append(time.perf_counter())
        if event["event"] == "tick" and started and time.perf_counter() - started[0] > 0.5:
            running.extend(processes_mentioning(str(cache)))
            raise Stop()

    running: list[str] = []
    with pytest.raises(Stop):
        run_pipeline(cfg, tmp_path / "run", Reporter(on_event=on_event, bars=False))
    assert any("ffmpeg" in cmd for cmd in running)  # segments were being rendered when the run was stopped
    assert processes_mentioning(str(cache)) == []  # ...and none of them outlived it
    manifest = (tmp_path / "run" / "manifest.json").read_text()
    assert '"status": "cancelled"' in manifest


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_during_composition_leaves_no_ffmpeg(tmp_path, signum):
    cache = tmp_path / "cache"
    args = [
        "profile=debug_cpu",
        *STORY,
        f"cache.dir={cache}",
        "render=1080p",
        "render.fps=24",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    proc = subprocess.Popen([sys.executable, "-m", "storyforge", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any("ffmpeg" in c and "libx264" in c for c in processes_mentioning(str(cache))):
        assert proc.poll() is None and time.monotonic() < deadline, "no segment was rendered"
        time.sleep(0.05)
    proc.send_signal(signum)
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130 and "Traceback" not in stderr and "run the same command to resume" in stderr
    assert processes_mentioning(str(cache)) == []
