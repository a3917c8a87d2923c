"""Generated files stay in sync, and the benchmarks keep running."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, SMALL


def test_requirements_files_match_pyproject():
    assert subprocess.run([sys.executable, "tools/gen_requirements.py", "--check"], cwd=ROOT).returncode == 0


@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("engine_overhead.py", ["--items", "20", "--repeat", "1"], "warm (cache hit) per item"),
        ("llm_parallel.py", ["--scenes", "4", "--latency", "0.1"], "speed-up"),
        ("llm_backends.py", ["--story", "tests/fixtures/one_scene.txt", "--backends", "llamacpp"], "own pictures"),
        ("executor.py", ["--story", "tests/fixtures/one_scene.txt"], "whole run"),
        ("compose.py", ["--width", "320", "--height", "180", "--fps", "12", "--skip-moviepy"], "segments / encode floor"),
        ("edit.py", ["--story", "tests/fixtures/two_scenes.txt", "--shot", "s01_01", *SMALL], "later shots moved: 1 of 1"),
        ("long_story.py", ["--words", "3000", "--sizes", "5,10", *SMALL], "composition s per output minute"),
        ("reading.py", ["--only", "en_gift_of_the_magi", "hi_sawa_ser_gehun", "--tts", "tone"], "attribution  mean"),
        (
            "studio.py",
            ["--story", "tests/fixtures/two_scenes.txt", "--shot", "s01_01", "--width", "320", "--height", "180", "--fps", "12"],
            "description edit to video",
        ),
        (
            "faults.py",
            ["--story", "tests/fixtures/one_scene.txt", "--width", "320", "--height", "180", "--rounds", "1", "--flood", "20"],
            "total",
        ),
    ],
)
def test_benchmarks_run(script, args, expect):
    out = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert expect in out


def test_code_is_ruff_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "storyforge", "tests", "benchmarks", "tools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


def test_every_environment_variable_the_config_reads_is_in_env_example():
    import re

    used = {m for p in (ROOT / "conf").rglob("*.yaml") for m in re.findall(r"oc\.env:([A-Z0-9_]+)", p.read_text())}
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used <= listed, f"add to .env.example: {sorted(used - listed)}"
