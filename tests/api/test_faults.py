"""The service under faults, against real `storyforge-serve` processes: cancel and stop during composition, kill -9,
a full disk, two server processes racing on one story, hostile bodies, wrong-key floods, and what a client is
shown. Each test is one finding of issue 10 (README, Service: what the server promises under faults)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from tests.conftest import FIXTURES  # noqa: E402
from tests.support.serve import Server, processes_using, stored_status  # noqa: E402

KEY = "k-faults"
# big enough frames that composing takes seconds on two cores, small enough that the suite stays quick
COMPOSE = "profile=debug_cpu render.width=640 render.height=360 render.fps=12"
SMALL = "profile=debug_cpu render.width=320 render.height=180 render.fps=12"
ONE_SCENE = (FIXTURES / "one_scene.txt").read_text()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """One data directory (cache, store, jobs) for the module: later servers resume what earlier ones left."""
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def example() -> str:
    from storyforge.resources import asset

    return Path(asset("example_story.txt")).read_text(encoding="utf-8")


def composing(job: dict) -> bool:
    """The job is in the middle of composition: some segments rendered, not all."""
    segments = job["stages"].get("segments", {})
    return job["status"] == "running" and 1 <= segments.get("done", 0) and not segments.get("finished")


def test_cancel_during_composition_stops_within_two_seconds_and_leaves_no_process(data, example):
    server = Server(data, KEY, {"STORYFORGE_SERVER_OVERRIDES": COMPOSE})
    try:
        job = server.http.post("/v1/jobs", json={"story": example}).json()
        server.wait_for(job["id"], composing)
        asked = time.monotonic()
        assert server.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        server.wait_for(job["id"], lambda j: j["status"] == "cancelled", timeout=2.0, every=0.05)
        took = time.monotonic() - asked
        assert took < 2.0 and processes_using(data) == []
        assert server.http.get("/readyz").status_code == 200  # the worker goes on to the next job
    finally:
        server.close()


def test_sigterm_requeues_the_running_job_at_stop_and_a_new_server_finishes_it(data, example):
    server = Server(data, KEY, {"STORYFORGE_SERVER_OVERRIDES": COMPOSE})
    try:
        job = server.http.post("/v1/jobs", json={"story": example, "title": "after a stop"}).json()
        server.wait_for(job["id"], composing)
        took = server.stop(signal.SIGTERM)
    finally:
        server.close()
    assert took < 10, f"the server took {took:.1f} s to stop"
    assert stored_status(data, job["id"]) == "queued"  # at stop, not a minute later by the stale check
    assert processes_using(data) == []
    again = Server(data, KEY, {"STORYFORGE_SERVER_OVERRIDES": COMPOSE})
    try:
        done = again.wait_for(job["id"], lambda j: j["status"] == "succeeded", timeout=300, every=0.5)
        assert done["stages"]["segments"]["hits"] >= 1  # what was composed before the stop was kept
    finally:
        again.close()


def test_kill_9_leaves_no_orphan_and_the_job_is_requeued_when_stale(data, example):
    # another frame rate: no segment is cached yet
    env = {"STORYFORGE_SERVER_OVERRIDES": COMPOSE.replace("fps=12", "fps=10"), "STORYFORGE_STALE_S": "2"}
    server = Server(data, KEY, env)
    try:
        job = server.http.post("/v1/jobs", json={"story": example}).json()
        server.wait_for(job["id"], composing)
        deadline = time.monotonic() + 5
        while not processes_using(data):  # ffmpeg at work
            assert time.monotonic() < deadline, "no ffmpeg seen while composing"
            time.sleep(0.02)
        server.stop(signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while (left := processes_using(data)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], left
        assert stored_status(data, job["id"]) == "running"  # nobody could write it: the next server must
    finally:
        server.close()
    again = Server(data, KEY, env)
    try:
        deadline = time.monotonic() + 30
        while "re-queued 1 job(s)" not in again.log():  # the stale check gives it back to the queue
            assert time.monotonic() < deadline, again.log()
            time.sleep(0.2)
        again.http.post(f"/v1/jobs/{job['id']}/cancel")  # enough: it was picked up again; save the time
        again.wait_for(job["id"], lambda j: j["status"] == "cancelled", timeout=10)
    finally:
        again.close()


def test_kill_9_of_a_server_with_worker_processes_takes_them_and_their_jobs_down(data, example):
    server = Server(data, KEY, {"STORYFORGE_SERVER_OVERRIDES": COMPOSE.replace("fps=12", "fps=8")}, workers=2)
    try:
        job = server.http.post("/v1/jobs", json={"story": example}).json()
        server.wait_for(job["id"], composing)
        assert len(processes_using(data, python=True)) >= 3  # the supervisor, two workers, ffmpeg
        server.stop(signal.SIGKILL)  # the supervisor only, as `kill -9 <pid>` does
        deadline = time.monotonic() + 3.0
        while (left := processes_using(data, python=True)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], left
    finally:
        server.close()


def test_two_server_processes_make_one_job_of_sixteen_identical_submissions_and_log_it(data):
    server = Server(data, KEY, {"STORYFORGE_SERVER_OVERRIDES": SMALL}, workers=2)
    try:
        ids = []
        for round_ in range(3):
            body = {"story": f"{ONE_SCENE}\nRound {round_}."}
            barrier = threading.Barrier(16)

            def submit(_: int, body=body, barrier=barrier) -> httpx.Response:
                barrier.wait()
                return httpx.post(f"{server.base}/v1/jobs", json=body, headers={"X-API-Key": KEY}, timeout=60)

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(submit, range(16)))
            assert {a.status_code for a in answers} <= {200, 202}, [a.text for a in answers]
            assert len({a.json()["id"] for a in answers}) == 1
            assert sum(a.status_code == 202 for a in answers) == 1
            ids.append(answers[0].json()["id"])
        assert server.http.get("/v1/jobs").json()["total"] >= 3
        for job_id in ids:
            server.wait_for(job_id, lambda j: j["status"] == "succeeded", timeout=300, every=0.5)
            log = server.http.get(f"/v1/jobs/{job_id}/artifacts/job.log").text
            assert "✔ film" in log, log
            assert str(data) not in log
        assert "✔ film" in server.log()  # pipeline lines reach the server's log from its worker processes
    finally:
        server.close()


def test_a_full_disk_is_503_with_retry_after_and_not_ready(data, tmp_path):
    server = Server(tmp_path / "nearly-full", KEY, {"STORYFORGE_MIN_FREE_MB": str(10**9)})
    try:
        assert server.http.get("/readyz").status_code == 503
        refused = server.http.post("/v1/jobs", json={"story": ONE_SCENE})
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    finally:
        server.close()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a small tmpfs needs root")
def test_a_really_full_disk_is_503_not_500(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("this machine does not let a test mount a tmpfs")
    try:
        server = Server(disk / "data", KEY, {"STORYFORGE_MIN_FREE_MB": "0", "STORYFORGE_JOB_WORKERS": "0"})
        try:
            assert server.http.post("/v1/jobs", json={"story": ONE_SCENE}).status_code == 202  # the store is made
            with (disk / "filler").open("wb") as filler:  # fill the disk to the last byte
                try:
                    while True:
                        filler.write(b"\0" * 65536)
                        filler.flush()
                except OSError:
                    pass
            refused = server.http.post("/v1/jobs", json={"story": ONE_SCENE + " More."})
            assert refused.status_code == 503 and "disk" in refused.json()["detail"], refused.text
            assert "Retry-After" in refused.headers and "Traceback" not in server.log()
            assert server.http.get("/readyz").status_code == 503
        finally:
            server.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_hostile_and_bad_bodies_are_4xx_with_a_message_for_an_api_client(data):
    server = Server(data, KEY, {"STORYFORGE_SERVER_OVERRIDES": SMALL, "STORYFORGE_JOB_WORKERS": "0"})
    try:
        post = server.http.post
        deep = '{"story": ' + "[" * 1000 + "]" * 1000 + "}"
        cases = {
            "nested": post("/v1/jobs", content=deep, headers={"Content-Type": "application/json"}),
            "nul": post("/v1/jobs", json={"story": "Once\x00upon a time."}),
            "blank": post("/v1/jobs", json={"story": " \n\t "}),
            "binary upload": post("/v1/jobs", files={"file": ("a.txt", bytes(range(256)) * 4)}),
            "two files": post("/v1/jobs", files=[("file", ("a.txt", b"One.")), ("file", ("b.txt", b"Two."))]),
            "bad options field": post("/v1/jobs", files={"file": ("a.txt", b"Once.")}, data={"options": "{"}),
            "gpu profile": post("/v1/jobs", json={"story": ONE_SCENE, "profile": "prod_gpu"}),
            "story field beside the file": post("/v1/jobs", files={"file": ("a.txt", b"Once.")}, data={"story": "Twice."}),
        }
        if importlib.util.find_spec("TTS") is None:  # coqui-tts is not installed here: the voice is refused
            cases["coqui voice"] = post("/v1/jobs", json={"story": ONE_SCENE, "options": {"voice": "coqui"}})
        for name, answer in cases.items():
            assert answer.status_code == 422, (name, answer.status_code, answer.text)
            assert str(data) not in answer.text and "Fix:" not in answer.text, (name, answer.text)
        assert "debug_cpu" in cases["gpu profile"].text
        if "coqui voice" in cases:
            assert "tone" in cases["coqui voice"].text  # it names the voices it has
        assert "Traceback" not in server.log()
        # multipart's options field is read, not dropped
        form = post("/v1/jobs", files={"file": ("a.txt", ONE_SCENE.encode())}, data={"options": '{"aspect": "square"}'})
        assert form.status_code == 202
        manifest_config = server.job(form.json()["id"])
        assert manifest_config["status"] == "queued"
        row = json.loads(_request_of(data, form.json()["id"]))
        assert row["options"]["aspect"] == "square"
        # a new title is a new job, not the old one with the old title
        first = post("/v1/jobs", json={"story": ONE_SCENE, "title": "First"}).json()
        second = post("/v1/jobs", json={"story": ONE_SCENE, "title": "Second"}).json()
        assert first["id"] != second["id"] and second["title"] == "Second"
        assert post("/v1/jobs", json={"story": ONE_SCENE, "title": "Second"}).json()["id"] == second["id"]
        # a method a route does not take: 405 naming those it does
        options = server.http.options(f"/v1/jobs/{first['id']}")
        assert options.status_code == 405 and set(options.headers["Allow"].split(", ")) == {"GET", "DELETE"}
        for made in (form.json(), first, second):  # queued jobs can be deleted at once (and free the key's slots)
            assert server.http.delete(f"/v1/jobs/{made['id']}").status_code == 204
    finally:
        server.close()


def _request_of(data: Path, job_id: str) -> str:
    import sqlite3

    with sqlite3.connect(data / "jobs.sqlite") as db:
        return db.execute("SELECT request FROM jobs WHERE id=?", (job_id,)).fetchone()[0]


def test_wrong_keys_back_off_and_a_key_has_a_rate(data):
    server = Server(data, KEY, {"STORYFORGE_RATE_LIMIT": "30", "STORYFORGE_JOB_WORKERS": "0", "STORYFORGE_KEY_TRIES": "3"})
    try:
        with httpx.Client(base_url=server.base) as guesser:
            wrong = [guesser.get("/v1/jobs", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(3)]
            assert wrong == [401] * 3  # three wrong keys: 401, and now the address waits (1 s, then 2, 4 …)
            locked = guesser.get("/v1/jobs", headers={"X-API-Key": KEY})
            assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1  # no key is tried meanwhile
    finally:
        server.close()
    server = Server(data, KEY, {"STORYFORGE_RATE_LIMIT": "30", "STORYFORGE_JOB_WORKERS": "0"})
    try:  # a fresh server: the key's bucket holds 15 requests (half a minute of 30 a minute)
        # a proxy in front may pass its own Basic credentials on: they are not a (wrong) key
        assert server.http.get("/v1/jobs", headers={"Authorization": "Basic cHJveHk6cGFzcw=="}).status_code == 200
        codes = [server.http.get("/v1/jobs").status_code for _ in range(19)]
        assert codes[:14] == [200] * 14 and 429 in codes[14:]
    finally:
        server.close()


def test_what_a_client_is_shown_is_its_own(data):
    """A finished job's manifest, log and status carry no server path, package list, commit or server setup."""
    server = Server(data, KEY, {"STORYFORGE_SERVER_OVERRIDES": SMALL})
    try:
        job = server.http.post("/v1/jobs", json={"story": ONE_SCENE, "title": "shown"}).json()
        server.wait_for(job["id"], lambda j: j["status"] == "succeeded", timeout=300, every=0.5)
        manifest = server.http.get(f"/v1/jobs/{job['id']}/artifacts/manifest.json").json()
        assert manifest["stages"] and manifest["quality"]
        text = json.dumps(manifest)
        assert str(data) not in text and "packages" not in manifest and "git_commit" not in manifest
        assert "cache" not in manifest["config"] and "output" not in manifest["config"]
        on_disk = json.loads((data / "jobs" / job["id"] / "manifest.json").read_text())
        assert on_disk["packages"] and str(data) in json.dumps(on_disk)  # the operator keeps everything
        page = server.http.get("/")
        assert page.headers["X-Frame-Options"] == "DENY" and "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] and page.headers["X-Content-Type-Options"] == "nosniff"
        docs = server.http.get("/docs")
        assert docs.status_code == 200 and "cdn" not in docs.text.lower()
        assert server.http.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert server.http.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert not (data / "jobs" / job["id"]).exists()
    finally:
        server.close()


def test_what_a_careless_client_sends_is_4xx_and_never_locks_anyone_out(data):
    server = Server(data, KEY, {"STORYFORGE_JOB_WORKERS": "0", "STORYFORGE_KEY_TRIES": "2"})
    try:
        post = server.http.post
        deep_options = post("/v1/jobs", files={"file": ("a.txt", ONE_SCENE.encode())}, data={"options": "[" * 5000})
        assert deep_options.status_code == 422, deep_options.text
        bom = post("/v1/jobs", content=b"\xef\xbb\xbf" + json.dumps({"story": ONE_SCENE}).encode(),
                   headers={"Content-Type": "application/json"})  # fmt: skip
        assert bom.status_code == 202, bom.text
        assert post("/v1/jobs", json={"story": ONE_SCENE, "title": "a\x1b[31m\u202e"}).status_code == 422
        assert post("/v1/jobs/", json={"story": ONE_SCENE}).status_code == 404  # no redirect built from Host
        with httpx.Client(base_url=server.base) as unset:  # "Bearer $KEY" with KEY unset: not a guess
            assert [unset.get("/v1/jobs", headers={"Authorization": "Bearer"}).status_code for _ in range(4)] == [401] * 4
        two = httpx.get(f"{server.base}/v1/jobs", headers=[("X-API-Key", KEY), ("X-API-Key", "wrong")])
        assert two.status_code == 401  # every copy of the header counts
        assert "Allow" in server.http.put("/static/page.js").headers
        assert "Traceback" not in server.log()
    finally:
        server.close()
