"""`storyforge-serve` as a user runs it: a real server process, a key, HTTP requests (what `curl` does), and the
web page in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from tests.support.serve import SERVE, free_port, wait_http  # noqa: E402

KEY = "k-serve"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {**os.environ, "STORYFORGE_API_KEYS": KEY, "STORYFORGE_CACHE_DIR": str(data),
           "STORYFORGE_SERVER_OVERRIDES": "profile=debug_cpu render.width=320 render.height=180 render.fps=12"}  # fmt: skip
    log = (data / "server.log").open("w")
    proc = subprocess.Popen([*SERVE, "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
        yield base
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_the_server_refuses_to_start_without_keys(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("STORYFORGE_API_KEYS", "STORYFORGE_INSECURE_DEV")}
    proc = subprocess.run([*SERVE, "--port", str(free_port())], env={**env, "STORYFORGE_CACHE_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode != 0 and "STORYFORGE_API_KEYS" in proc.stderr and "Traceback" not in proc.stderr


def test_a_key_and_http_turn_the_example_story_into_a_downloadable_mp4(server, tmp_path):
    story = httpx.get(f"{server}/example-story").text
    created = httpx.post(f"{server}/v1/jobs", json={"story": story}, headers={"X-API-Key": KEY}, timeout=30)
    assert created.status_code == 202
    job_url = server + created.headers["Location"]
    deadline = time.monotonic() + 240
    while (job := httpx.get(job_url, headers={"X-API-Key": KEY}).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    mp4 = tmp_path / "story.mp4"
    mp4.write_bytes(httpx.get(server + job["video"], headers={"Authorization": f"Bearer {KEY}"}, timeout=60).content)
    from storyforge.services.ffmpeg import probe

    assert {s["type"] for s in probe(mp4)["streams"]} >= {"video", "audio"}


@pytest.mark.skipif(not shutil.which("chromium"), reason="apt-get install chromium (.ci/run does)")
def test_the_web_page_submits_the_example_and_plays_the_video_in_chromium(server, tmp_path):
    websocket = pytest.importorskip("websocket")
    port = free_port()
    browser = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
         f"--remote-debugging-port={port}", f"--user-data-dir={tmp_path / 'profile'}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/json/version")
        target = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json").json() if t["type"] == "page")
        ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30)
        ids = iter(range(1, 10**6))

        def cdp(method: str, **params) -> dict:
            n = next(ids)
            ws.send(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                message = json.loads(ws.recv())
                if message.get("id") == n:
                    return message.get("result", {})

        def js(expression: str):
            return cdp("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)["result"].get("value")

        cdp("Page.navigate", url=f"{server}/")
        deadline = time.monotonic() + 30
        while js("document.readyState") != "complete" or not js("!!document.getElementById('example')"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        js(f"document.getElementById('key').value = '{KEY}'; document.getElementById('example').click(); true")
        while not js("document.getElementById('story').value.length > 100"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        js("document.getElementById('job').requestSubmit(); true")
        deadline = time.monotonic() + 240
        while js("document.body.dataset.video || ''") != "loaded":
            assert time.monotonic() < deadline, js(
                "document.getElementById('error').textContent + ' ' + document.getElementById('state').textContent"
            )
            time.sleep(0.5)
        assert js("document.getElementById('video').duration") > 10
        assert js("document.querySelectorAll('#board .shot').length") > 3
        ws.close()
    finally:
        browser.terminate()
        browser.wait(20)
