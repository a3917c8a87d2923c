"""README's run command works as written, and a second run is all cache hits; `.ci/run` runs README's test command."""

import re
import subprocess
import sys
from pathlib import Path

from storyforge.services.ffmpeg import probe
from tests.conftest import ROOT, cli

README = (ROOT / "README.md").read_text()


def block_after(marker: str) -> str:
    return re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)\n```", README, re.S).group(1).strip()


def test_readme_run_command_makes_a_video_then_hits_the_cache(tmp_path):
    command = block_after("run-command").split("&&")[-1].split()
    assert command[0] == "storyforge"
    env = {"STORYFORGE_CACHE_DIR": str(tmp_path / "cache"), "STORYFORGE_PROFILE": None}
    first = cli(*command[1:], cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    video = Path(re.search(r"video: (/\S+\.mp4)$", first.stdout, re.M).group(1))
    assert video.is_relative_to(tmp_path / "outputs") and video.name == "final.mp4"
    info = probe(video)
    assert {s["type"] for s in info["streams"]} >= {"video", "audio"} and info["duration"] > 60
    second = cli(*command[1:], "output.dir=again", cwd=tmp_path, env=env)
    assert re.search(r"cache: (\d+)/\1 stages fully cached", second.stdout) and "0 miss" not in second.stdout.replace(
        "0 miss,", ""
    )


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci
    assert block_after("test-command").endswith("python -m pytest -q")


def test_installed_wheel_runs_from_outside_the_repo(tmp_path):
    """A regular (non-editable) install carries conf/, recipes/ and assets/ inside the package."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(ROOT)],
        check=True,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(target), "STORYFORGE_CACHE_DIR": str(tmp_path / "cache")}
    where = subprocess.run(
        [sys.executable, "-c", "import storyforge.resources as r; print(r.resource_dir('conf'))"],
        cwd=tmp_path,
        env={**__import__("os").environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(target)
    run = cli("profile=debug_cpu", "render.width=320", "render.height=180", "render.fps=12", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "outputs").is_dir() and list((tmp_path / "outputs").rglob("final.mp4"))
