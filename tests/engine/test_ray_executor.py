"""`executor=ray` on a local Ray instance (`ray.init(num_cpus=2)`, one for the module: starting Ray takes
seconds): for_each items run in Ray actor processes and the run's outputs are exactly those of the local
executor; errors inside an actor reach the user as the stage's own."""

from __future__ import annotations

import os

import pytest

from storyforge.config import compose
from storyforge.engine.pipeline import run_pipeline
from storyforge.errors import ConfigError, StageFailed, StoryforgeError
from tests.conftest import FIXTURES, SMALL

ray = pytest.importorskip("ray")  # in the dev extra, so CI runs these

STORY = f"story={FIXTURES / 'two_scenes.txt'}"
RAY = ["executor=ray"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local instance needs no token
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield
    ray.shutdown()  # the executor leaves an instance it did not start running


def go(tmp_path, name: str, *overrides: str):
    cfg, _ = compose(["profile=debug_cpu", STORY, *SMALL, f"cache.dir={tmp_path / name}-cache", *overrides])
    return run_pipeline(cfg, tmp_path / name)


def test_ray_executor_matches_the_local_executor_and_resumes_from_its_cache(tmp_path):
    local = go(tmp_path, "local").manifest
    remote = go(tmp_path, "ray", *RAY).manifest
    assert remote.outputs == local.outputs  # every artifact, final.mp4 included, byte for byte
    for name, stage in remote.stages.items():
        assert [i.output for i in stage.items] == [i.output for i in local.stages[name].items], name
        workers = {i.worker for i in stage.items}
        if name in ("plan", "visuals", "narration"):  # for_each stages: Ray actors, other processes
            assert "local" not in workers and all(int(w.rsplit(":", 1)[1]) != os.getpid() for w in workers), workers
        else:
            assert workers == {"local"}, (name, workers)
    again = go(tmp_path, "ray", *RAY).manifest  # same cache: nothing to hand to Ray
    assert all(s.misses == 0 for s in again.stages.values()) and again.outputs == local.outputs


def test_an_error_inside_an_actor_is_the_stages_own_and_finished_items_stay_cached(tmp_path):
    with pytest.raises(StageFailed) as failed:
        go(tmp_path, "bad", *RAY, "audio/tts=espeak", "audio.tts.voices.en=zz")
    assert failed.value.stage == "narration" and isinstance(failed.value.cause, StoryforgeError)
    assert "espeak-ng --voices" in str(failed.value.cause) and "RayTaskError" not in str(failed.value)
    resumed = go(tmp_path, "bad", *RAY, "audio/tts=espeak", "executor.stages=[visuals]").manifest
    assert all(resumed.stages[s].misses == 0 for s in ("story", "scenes", "plan", "shots"))  # computed before the failure
    assert {i.worker for i in resumed.stages["narration"].items} == {"local"}  # not in executor.stages: the driver


def test_asking_for_more_gpus_than_the_cluster_has_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"stage 'visuals' asks Ray for 1 GPU.*video\.num_gpus=0"):
        go(tmp_path, "gpu", *RAY, "video.num_gpus=1")
    with pytest.raises(ConfigError, match=r"executor\.stages names \['compose'\]"):
        go(tmp_path, "stages", *RAY, "executor.stages=[compose]")
