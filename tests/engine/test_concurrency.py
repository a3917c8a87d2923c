"""Runs that share a cache at the same time: threads of one process compute identical work once; separate
processes both finish with correct outputs and a cache that verifies."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from storyforge.cache_cli import main as cache_main
from storyforge.config import compose
from storyforge.engine.pipeline import run_pipeline
from tests.conftest import FIXTURES, ROOT, SMALL

STORY = f"story={FIXTURES / 'two_scenes.txt'}"


def test_identical_work_in_flight_in_one_process_is_computed_once(tmp_path):
    cfg, _ = compose(["profile=debug_cpu", STORY, *SMALL, f"cache.dir={tmp_path / 'cache'}"])
    results = {}

    def go(name: str) -> None:
        results[name] = run_pipeline(cfg, tmp_path / name)

    threads = [threading.Thread(target=go, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    a, b = (results[n].manifest.stages for n in ("a", "b"))
    for name in a:
        items = a[name].hits + a[name].misses
        assert a[name].misses + b[name].misses == items, name  # each unit computed by exactly one of the two runs
    assert (tmp_path / "a" / "final.mp4").read_bytes() == (tmp_path / "b" / "final.mp4").read_bytes()


def test_two_processes_sharing_a_cache_both_finish_and_the_cache_verifies(tmp_path, capsys):
    cache = tmp_path / "cache"
    base = [sys.executable, "-m", "storyforge", "profile=debug_cpu", STORY, *SMALL, f"cache.dir={cache}"]
    procs = [
        subprocess.Popen([*base, f"stages.compose.within_scene={t}", f"hydra.run.dir={tmp_path / t}"], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for t in ("cut", "crossfade")
    ]  # fmt: skip
    for proc in procs:
        assert proc.wait(300) == 0, proc.stderr.read()[-2000:]
    stories = [json.loads((tmp_path / t / "story.json").read_text()) for t in ("cut", "crossfade")]
    assert stories[0] == stories[1]
    cache_main(["--cache-dir", str(cache), "verify"])
    assert "0 corrupt" in capsys.readouterr().out


def test_a_joblib_sweep_runs_jobs_in_parallel_processes_on_one_cache(tmp_path, capsys):
    import pytest

    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from tests.conftest import cli

    proc = cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "profile=debug_cpu", STORY, *SMALL,
               "stages.compose.within_scene=cut,crossfade", f"cache.dir={tmp_path / 'cache'}",
               f"output.root={tmp_path / 'out'}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(list(tmp_path.glob("out/multirun/*/*/*/final.mp4"))) == 2 and list(tmp_path.glob("out/multirun/*/*/sweep.csv"))
    cache_main(["--cache-dir", str(tmp_path / "cache"), "verify"])
    assert "0 corrupt" in capsys.readouterr().out
