"""Generated files stay in sync, and the benchmarks keep running."""

import subprocess
import sys

from tests.conftest import ROOT


def test_requirements_files_match_pyproject():
    assert subprocess.run([sys.executable, "tools/gen_requirements.py", "--check"], cwd=ROOT).returncode == 0


def test_engine_overhead_benchmark_runs():
    out = subprocess.run(
        [sys.executable, "benchmarks/engine_overhead.py", "--items", "20", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "warm (cache hit) per item" in out


def test_code_is_ruff_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "storyforge", "tests", "benchmarks", "tools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


def test_llm_parallel_benchmark_runs():
    out = subprocess.run(
        [sys.executable, "benchmarks/llm_parallel.py", "--scenes", "4", "--latency", "0.1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "speed-up" in out
