"""Shared helpers: compose a config the way the CLI does and run it in-process, in temp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storyforge.config import compose
from storyforge.engine.pipeline import RunResult, run_pipeline

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
SMALL = ["render.width=320", "render.height=180", "render.fps=12"]  # fast end-to-end runs


@pytest.fixture(autouse=True, scope="session")
def _own_user_cache(tmp_path_factory: pytest.TempPathFactory):
    """The user's cache directory (default cache, remembered LLM server modes) is one folder for the whole
    session: tests share it as a user's runs do, and never read or write the developer's own."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def run(tmp_path: Path, cache_dir: Path):
    """run(*overrides, name=...) -> RunResult, with a shared cache and a fresh run dir per call."""
    counter = iter(range(1000))

    def _run(*overrides: str, name: str | None = None) -> RunResult:
        cfg, reason = compose(["profile=debug_cpu", f"cache.dir={cache_dir}", *SMALL, *overrides])
        return run_pipeline(cfg, tmp_path / (name or f"run{next(counter)}"), profile_reason=reason)

    return _run


def cli(*args: str, cwd: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python -m storyforge ARGS` as a user would, in `cwd`. An env value of None removes the variable."""
    full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "storyforge", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
