"""`executor=ray` on a local Ray instance (`ray.init(num_cpus=2)`, one for the module: starting Ray takes
seconds): for_each items run in Ray actor processes and the run's outputs are exactly those of the local
executor; errors inside an actor reach the user as the stage's own."""

from __future__ import annotations

import json
import os
import pickle
import time

import pytest

from storyforge.config import compose
from storyforge.engine.pipeline import run_pipeline
from storyforge.errors import ConfigError, StageFailed, StoryforgeError
from tests.conftest import FIXTURES, SMALL, cli

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
    chained = "continuity=last_frame"  # shots of a scene in order, each given the one before (`previous`) over Ray
    local = go(tmp_path, "local", chained).manifest
    remote = go(tmp_path, "ray", *RAY, chained).manifest
    assert remote.outputs == local.outputs  # every artifact, each segment and final.mp4 included, byte for byte
    assert "final.mp4" in remote.outputs and any(name.startswith("segments/") for name in remote.outputs)
    for name, stage in remote.stages.items():
        assert [i.output for i in stage.items] == [i.output for i in local.stages[name].items], name
        workers = {i.worker for i in stage.items}
        if name in ("portraits", "plan", "visuals", "narration", "segments"):  # for_each stages: Ray actors, other processes
            assert "local" not in workers and all(int(w.rsplit(":", 1)[1]) != os.getpid() for w in workers), workers
        else:
            assert workers == {"local"}, (name, workers)
    again = go(tmp_path, "ray", *RAY, chained).manifest  # same cache: nothing to hand to Ray
    assert all(s.misses == 0 for s in again.stages.values()) and again.outputs == local.outputs
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU") == 2  # every stage's actors were removed


def test_errors_come_back_from_an_actor_whole():
    from storyforge.services.llm.base import LLMOutputError

    error = pickle.loads(pickle.dumps(LLMOutputError("no valid answer.", "retry.", "{half")))
    assert (type(error), error.problem, error.fix, error.raw_output) == (LLMOutputError, "no valid answer.", "retry.", "{half")


def test_the_cli_starts_and_stops_its_own_ray_instance_and_shows_the_actors_warnings(tmp_path):
    no_espeak = ["audio/tts=espeak", "audio.tts.fallback=tone", "audio.tts.executable=no-such-espeak"]  # warns, tones
    proc = cli("profile=debug_cpu", f"story={FIXTURES / 'one_scene.txt'}", *SMALL, *no_espeak, "executor=ray",
               "executor.num_cpus=1", f"cache.dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}",
               cwd=tmp_path, env={"RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": None})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert {i["worker"] for i in manifest["stages"]["narration"]["items"]} != {"local"}
    log = "".join(p.read_text() for p in (tmp_path / "run").glob("*.log"))  # Hydra's job log, actors' lines too
    assert log.count("'no-such-espeak' is not on PATH") == 2  # the driver's service, then the narration actor's


def test_an_error_inside_an_actor_is_the_stages_own_and_finished_items_stay_cached(tmp_path):
    with pytest.raises(StageFailed) as failed:
        go(tmp_path, "bad", *RAY, "audio/tts=espeak", "audio.tts.voices.en=zz")
    assert failed.value.stage == "narration" and isinstance(failed.value.cause, StoryforgeError)
    assert "espeak-ng --voices" in str(failed.value.cause) and "RayTaskError" not in str(failed.value)
    resumed = go(tmp_path, "bad", *RAY, "audio/tts=espeak", "executor.stages=[visuals]").manifest
    assert all(resumed.stages[s].misses == 0 for s in ("story", "scenes", "plan", "shots"))  # computed before the failure
    assert {i.worker for i in resumed.stages["narration"].items} == {"local"}  # not in executor.stages: the driver


def test_asking_for_more_gpus_than_the_cluster_has_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"stage 'portraits' asks Ray for 1 GPU.*video\.num_gpus=0"):
        go(tmp_path, "gpu", *RAY, "video.num_gpus=1")
    with pytest.raises(ConfigError, match=r"executor\.stages names \['compose'\]"):
        go(tmp_path, "stages", *RAY, "executor.stages=[compose]")


def test_llm_calls_made_in_actors_are_in_the_manifest(tmp_path):
    from tests.services.test_openai_llm import story_server_reply
    from tests.support.chat_server import ChatServer

    with ChatServer(story_server_reply) as server:  # plan's calls come from a Ray actor's own client
        result = go(tmp_path, "llm", *RAY, "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test")
    assert {i.worker for i in result.manifest.stages["plan"].items} != {"local"}
    assert [c["task"] for c in result.manifest.llm_calls] == ["story_bible", "split_scenes", "plan_shots"]
