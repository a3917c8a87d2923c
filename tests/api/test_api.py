"""The HTTP service through its ASGI app: auth, submission (JSON and upload), limits, idempotency, progress,
the video with Range requests, artifacts, cancellation, and a restart that resumes through the cache."""

from __future__ import annotations

import functools
import json
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from storyforge.api.dependencies import Settings
from storyforge.api.main import create_app
from storyforge.errors import StoryforgeError
from tests.conftest import FIXTURES, SMALL

KEY = {"X-API-Key": "k-test-1"}
STORY = (FIXTURES / "two_scenes.txt").read_text()


@pytest.fixture
def settings(tmp_path):
    return Settings(api_keys=["k-test-1", "k-test-2"], data_dir=tmp_path / "data", overrides=["profile=debug_cpu", *SMALL])


def client_for(settings, start_worker=True) -> TestClient:
    return TestClient(create_app(settings, start_worker=start_worker))


def wait(client, job_id, until=("succeeded", "failed", "cancelled"), timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=KEY).json()
        if job["status"] in until:
            return job
        time.sleep(0.25)  # under the default rate limit (600 a minute) however long the job takes
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")


def test_a_story_becomes_a_video_with_progress_artifacts_and_range_requests(settings):
    with client_for(settings) as client:
        created = client.post("/v1/jobs", json={"story": STORY, "profile": "debug_cpu"}, headers=KEY)
        assert created.status_code == 202 and created.headers["Location"] == f"/v1/jobs/{created.json()['id']}"
        job = wait(client, created.json()["id"])
        assert job["status"] == "succeeded" and job["progress"] == 100, job
        assert job["stages"]["film"]["finished"] and job["stages"]["narration"]["misses"] >= 1
        assert job["stages"]["segments"]["items"] == job["stages"]["segments"]["misses"] > 1  # composition shows progress
        video = client.get(job["video"], headers=KEY)
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4" and len(video.content) > 1000
        part = client.get(job["video"], headers={**KEY, "Range": "bytes=0-99"})
        assert part.status_code == 206 and len(part.content) == 100 and part.headers["content-range"].startswith("bytes 0-99/")
        for name in ("manifest.json", "subtitles.srt", "shots.json", "edit.json", "job.log", "shots/s01_01.png",
                     "segments/s01_01.mp4", "mix.m4a"):  # fmt: skip
            assert client.get(f"/v1/jobs/{job['id']}/artifacts/{name}", headers=KEY).status_code == 200, name
        for name in ("../../jobs.sqlite", "..%2F..%2Fjobs.sqlite", "config.yaml", "shots/../../x"):
            assert client.get(f"/v1/jobs/{job['id']}/artifacts/{name}", headers=KEY).status_code == 404, name
        listed = client.get("/v1/jobs?per_page=1", headers=KEY).json()
        assert listed["total"] == 1 and listed["jobs"][0]["id"] == job["id"]
        assert client.get(f"/v1/jobs/{job['id']}", headers={"X-API-Key": "k-test-2"}).status_code == 404  # not theirs


def test_keys_are_required_and_bearer_works(settings):
    with client_for(settings, start_worker=False) as client:
        assert client.get("/v1/jobs").status_code == 401
        assert client.get("/v1/jobs", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/v1/jobs", headers={"Authorization": "Bearer k-test-2"}).status_code == 200
        assert client.get("/healthz").status_code == 200 and client.get("/docs").status_code == 200


def test_the_server_will_not_run_open(tmp_path):
    with pytest.raises(StoryforgeError, match="STORYFORGE_API_KEYS"):
        create_app(Settings(data_dir=tmp_path))
    with TestClient(create_app(Settings(data_dir=tmp_path, insecure_dev=True), start_worker=False)) as client:
        assert client.get("/v1/jobs").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"story": STORY, "options": {"voice": "sam"}},  # not an allowed value
        {"story": STORY, "_target_": "os.system"},  # never a target
        {"story": STORY, "options": {"render.width": 10}},  # never a raw override
        {"story": STORY, "recipe": "nope"},
        {"story": STORY, "profile": "turbo"},
        {"story": ""},
    ],
)
def test_unknown_or_disallowed_input_is_422(settings, body):
    with client_for(settings, start_worker=False) as client:
        assert client.post("/v1/jobs", json=body, headers=KEY).status_code == 422


def test_an_oversized_story_is_413_before_the_body_is_read(settings):
    settings.max_story_bytes = 1000
    with client_for(settings, start_worker=False) as client:
        big = {"story": "x" * 5000}
        assert client.post("/v1/jobs", json=big, headers=KEY).status_code == 413
        headers = {**KEY, "Content-Length": str(10**9), "Content-Type": "application/json"}
        assert client.post("/v1/jobs", content=b"{}", headers=headers).status_code == 413


def test_a_full_queue_and_a_busy_key_are_429_with_retry_after(settings):
    settings.jobs_per_key = 1
    with client_for(settings, start_worker=False) as client:
        assert client.post("/v1/jobs", json={"story": STORY}, headers=KEY).status_code == 202
        busy = client.post("/v1/jobs", json={"story": STORY + " Again."}, headers=KEY)
        assert busy.status_code == 429 and int(busy.headers["Retry-After"]) > 0
        settings.queue_limit = 1
        full = client.post("/v1/jobs", json={"story": STORY + " More."}, headers={"X-API-Key": "k-test-2"})
        assert full.status_code == 429 and "queue" in full.json()["detail"]


def test_the_same_story_and_config_is_the_same_job(settings):
    with client_for(settings, start_worker=False) as client:
        first = client.post("/v1/jobs", json={"story": STORY}, headers=KEY)
        again = client.post("/generate", json={"story": STORY}, headers=KEY)  # the alias
        other = client.post("/v1/jobs", json={"story": STORY, "options": {"voice": "espeak"}}, headers=KEY)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
        assert client.get(f"/status/{first.json()['id']}", headers=KEY).json()["status"] == "queued"


def test_an_uploaded_file_is_a_story(settings):
    with client_for(settings, start_worker=False) as client:
        files = {"file": ("story.txt", STORY.encode(), "text/plain")}
        created = client.post("/v1/jobs", files=files, data={"voice": "tone", "aspect": "vertical"}, headers=KEY)
        assert created.status_code == 202, created.text
        bad = client.post("/v1/jobs", files=files, data={"width": "9"}, headers=KEY)
        assert bad.status_code == 422


def test_cancelling_a_queued_and_a_running_job(settings):
    with client_for(settings, start_worker=False) as client:
        queued = client.post("/v1/jobs", json={"story": STORY}, headers=KEY).json()
        assert client.post(f"/v1/jobs/{queued['id']}/cancel", headers=KEY).json()["status"] == "cancelled"
        assert client.post(f"/v1/jobs/{queued['id']}/cancel", headers=KEY).json()["status"] == "cancelled"  # again: no-op
        running = client.post("/v1/jobs", json={"story": STORY + " Again."}, headers=KEY).json()
        store, worker = client.app.state.store, client.app.state.worker
        job = store.claim_next()
        assert job["id"] == running["id"] and client.post(f"/v1/jobs/{job['id']}/cancel", headers=KEY).status_code == 200
        assert client.delete(f"/v1/jobs/{job['id']}", headers=KEY).status_code == 409  # running: cancel first
        resubmitted = client.post("/v1/jobs", json={"story": STORY + " Again."}, headers=KEY)  # while it stops
        assert resubmitted.status_code == 202 and resubmitted.json()["id"] != job["id"]  # a new job, not the cancelled one
        worker.run(job)  # stops at its first event
        assert client.get(f"/v1/jobs/{job['id']}", headers=KEY).json()["status"] == "cancelled"
        manifest = json.loads((settings.jobs_dir / job["id"] / "manifest.json").read_text())
        assert manifest["status"] == "cancelled"  # a stop on request, not a failure


def test_delete_removes_a_job_and_its_files_and_retention_removes_old_ones(settings):
    with client_for(settings) as client:
        job = client.post("/v1/jobs", json={"story": STORY}, headers=KEY).json()
        assert wait(client, job["id"])["status"] == "succeeded"
        assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=KEY).status_code == 409  # it ended: nothing to cancel
        assert (settings.jobs_dir / job["id"] / "final.mp4").is_file()
        assert client.delete(f"/v1/jobs/{job['id']}", headers={"X-API-Key": "k-test-2"}).status_code == 404  # not theirs
        assert client.delete(f"/v1/jobs/{job['id']}", headers=KEY).status_code == 204
        assert not (settings.jobs_dir / job["id"]).exists()
        assert client.get(f"/v1/jobs/{job['id']}", headers=KEY).status_code == 404
        assert client.get("/v1/jobs", headers=KEY).json()["total"] == 0
        again = client.post("/v1/jobs", json={"story": STORY}, headers=KEY)  # a new job, done through the cache
        assert again.status_code == 202 and wait(client, again.json()["id"])["status"] == "succeeded"
        client.app.state.worker.retention_s = 1e-3  # STORYFORGE_RETENTION_DAYS: the worker purges ended jobs
        deadline = time.monotonic() + 70
        while client.get("/v1/jobs", headers=KEY).json()["total"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert not (settings.jobs_dir / again.json()["id"]).exists()


def test_a_restart_resumes_a_job_with_finished_stages_as_hits(settings, monkeypatch):
    from storyforge.stages.compose import Compose

    original = Compose.run
    with client_for(settings) as client:

        @functools.wraps(original)
        async def stop_the_server_here(self, *args, **kwargs):
            client.app.state.worker._stop.set()  # as if the server were stopped during compose
            return await original(self, *args, **kwargs)

        monkeypatch.setattr(Compose, "run", stop_the_server_here)
        job_id = client.post("/v1/jobs", json={"story": STORY}, headers=KEY).json()["id"]
        time.sleep(0.5)
        deadline = time.monotonic() + 60
        while client.app.state.worker.alive and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get(f"/v1/jobs/{job_id}", headers=KEY).json()["status"] == "queued"  # put back
    monkeypatch.setattr(Compose, "run", original)
    with client_for(settings) as client:
        job = wait(client, job_id)
        assert job["status"] == "succeeded"
        manifest = client.get(f"/v1/jobs/{job_id}/artifacts/manifest.json", headers=KEY).json()
        assert all(manifest["stages"][s]["misses"] == 0 for s in ("story", "scenes", "plan", "visuals", "narration"))
        assert manifest["stages"]["compose"]["hits"] == 1  # it had finished when the server stopped


def test_jobs_left_running_by_a_killed_server_are_requeued_once_stale(settings):
    with client_for(settings, start_worker=False) as client:
        job_id = client.post("/v1/jobs", json={"story": STORY}, headers=KEY).json()["id"]
        client.app.state.store.claim_next()  # running, then the process dies: no more heartbeats
    settings.stale_s = 1.0
    with client_for(settings) as client:
        assert client.app.state.store.requeue_stale(3600) == 0  # a fresh claim is not taken from its worker
        assert wait(client, job_id)["status"] == "succeeded"


def test_another_keys_identical_story_is_its_own_job(settings):
    with client_for(settings, start_worker=False) as client:
        mine = client.post("/v1/jobs", json={"story": STORY}, headers=KEY).json()
        theirs = client.post("/v1/jobs", json={"story": STORY}, headers={"X-API-Key": "k-test-2"})
        assert theirs.status_code == 202 and theirs.json()["id"] != mine["id"]


def test_text_that_is_not_valid_unicode_is_422_not_500(settings):
    with client_for(settings, start_worker=False) as client:
        body = b'{"story": "\\ud800 broken"}'
        answer = client.post("/v1/jobs", content=body, headers={**KEY, "Content-Type": "application/json"})
        assert answer.status_code == 422


def test_admission_refuses_before_composing_and_a_retry_at_the_limit_gets_its_job(settings, monkeypatch):
    import storyforge.api.main as api

    composed = []
    real = api.resolved_config
    monkeypatch.setattr(api, "resolved_config", lambda overrides: composed.append(overrides) or real(overrides))
    settings.jobs_per_key = 1
    with client_for(settings, start_worker=False) as client:
        first = client.post("/v1/jobs", json={"story": STORY}, headers=KEY)
        assert first.status_code == 202 and len(composed) == 1
        again = client.post("/v1/jobs", json={"story": STORY}, headers=KEY)  # a retry: its job, not a 429
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        refused = [
            client.post("/v1/jobs", json={"story": STORY + " Another."}, headers=KEY),  # the key's limit: 429
            client.post("/v1/jobs", json={"story": "\x00"}, headers=KEY),
            client.post("/v1/jobs", json={"story": "Once.", "profile": "prod_gpu"}, headers={"X-API-Key": "k-test-2"}),
        ]
        assert [r.status_code for r in refused] == [429, 422, 422]
        assert len(composed) == 1  # none of them cost a composition


def test_a_burst_of_retries_at_the_key_limit_gets_the_job_its_twin_made(settings, monkeypatch):
    """Sixteen identical submissions at once: those that looked before the first made the job, and then met the
    key's limit (which that job filled), get the job, not a 429."""
    from storyforge.api.store import JobStore

    settings.jobs_per_key = 1
    with client_for(settings, start_worker=False) as client:
        first = client.post("/v1/jobs", json={"story": STORY}, headers=KEY)
        real, looked = JobStore.find_active_or_done, []

        def before_the_twin(self, digest, owner):  # the first lookup ran before the twin was made
            looked.append(digest)
            return None if len(looked) == 1 else real(self, digest, owner)

        monkeypatch.setattr(JobStore, "find_active_or_done", before_the_twin)
        late = client.post("/v1/jobs", json={"story": STORY}, headers=KEY)
        assert late.status_code == 200 and late.json()["id"] == first.json()["id"], late.text
        other = client.post("/v1/jobs", json={"story": STORY + " Another."}, headers=KEY)
        assert other.status_code == 429  # a different story at the limit is still refused


def test_a_voice_that_cannot_speak_the_story_language_is_422(settings):
    pytest.importorskip("piper")
    with client_for(settings, start_worker=False) as client:
        hindi = "एक गाँव में एक बूढ़ा किसान रहता था। उसके खेत में गेहूँ उगता था।"
        answer = client.post("/v1/jobs", json={"story": hindi, "options": {"voice": "piper"}}, headers=KEY)
        assert answer.status_code == 422 and "'hi'" in answer.text and "options.language" in answer.text
        english = client.post("/v1/jobs", json={"story": STORY, "options": {"voice": "piper"}}, headers=KEY)
        assert english.status_code == 202
