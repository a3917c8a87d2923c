"""`storyforge-serve` as a user runs it: a real server process, a key, HTTP requests (what `curl` does), and the
web page in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
def test_a_story_is_directed_shot_by_shot_in_the_browser_and_the_recipe_remakes_it(server, tmp_path):
    """The studio as a person uses it: make the example, edit a shot and a character, render the revision (only the
    touched shots remade, and marked in the comparison), reload, and remake the video from the recipe export."""
    pytest.importorskip("websocket")
    from tests.support.browser import Browser

    b = Browser(tmp_path / "profile")
    try:
        b.goto(f"{server}/")
        b.js(f"localStorage.setItem('storyforge-key', '{KEY}'); true")
        b.reload()
        b.js("document.getElementById('example').click(); true")
        b.until("document.getElementById('story').value.length > 100", 30)
        b.js("document.getElementById('job').requestSubmit(); true")
        status = "document.getElementById('state').textContent + ' ' + document.getElementById('error').textContent"
        b.until("document.body.dataset.video === 'loaded' && document.querySelectorAll('#board .shot').length > 3", 240, status)
        first = b.js("new URLSearchParams(location.search).get('job')")
        assert first and b.js("document.getElementById('video').duration") > 10
        assert b.js("document.querySelector('#video track[kind=subtitles]').src.startsWith('blob:')")
        b.until("document.querySelectorAll('#chapters li').length > 1", 30)  # a chapter per scene
        api = httpx.Client(base_url=server, headers={"X-API-Key": KEY}, timeout=60)
        cast = api.get(f"/v1/jobs/{first}/cast").json()["characters"]
        name = next(c["name"] for c in cast if c["shots"] and "s01_02" not in c["shots"])

        b.js(f"""(() => {{
          const edit = (node, value) => {{ node.value = value; node.dispatchEvent(new Event('input', {{bubbles: true}})); }};
          edit(document.querySelector('#board .shot[data-shot="s01_02"] textarea[data-field=description]'), 'A red door in the fog');
          edit(document.querySelector('#cast .character[data-character="{name}"] textarea[data-field=description]'),
               'a tall stranger in a green oilskin coat');
          return true; }})()""")
        assert b.js("document.getElementById('pending').textContent") == "Edited: 1 shot, 1 character."
        b.js("document.getElementById('render').click(); true")
        b.until(f"new URLSearchParams(location.search).get('job') !== '{first}' && document.body.dataset.video === 'loaded'"
                " && document.querySelectorAll('#compare-list li').length > 0", 180, status)  # fmt: skip
        revision = b.js("new URLSearchParams(location.search).get('job')")

        touched = sorted({"s01_02", *next(c["shots"] for c in cast if c["name"] == name)})
        manifest = api.get(f"/v1/jobs/{revision}/artifacts/manifest.json").json()["stages"]
        assert sorted(i["item"] for i in manifest["visuals"]["items"] if not i["hit"]) == touched
        segments = [i["item"] for i in manifest["segments"]["items"] if not i["hit"]]
        assert segments and all(set(s.split("-")) & set(touched) for s in segments)
        assert not any(not i["hit"] for stage in ("story", "scenes", "plan", "narration") for i in manifest[stage]["items"])
        marked = b.js("[...document.querySelectorAll('#board .shot.changed')].map((c) => c.dataset.shot)")
        assert sorted(marked) == touched
        assert sorted(b.js("[...document.querySelectorAll('#compare-list li')].map((li) => li.dataset.shot)")) == touched
        assert b.js("document.querySelectorAll('#history li').length") == 2

        b.reload()  # the job is in the URL
        b.until("document.body.dataset.video === 'loaded'", 60, status)
        assert b.js("new URLSearchParams(location.search).get('job')") == revision
        assert b.js("document.getElementById('title').textContent") == "The Paper Boats of Saltmere"

        unlabelled = b.js("[...document.querySelectorAll('main input, main select, main textarea')]"
                          ".filter((e) => !e.labels.length && !e.getAttribute('aria-label')).map((e) => e.outerHTML)")  # fmt: skip
        assert unlabelled == []
        b.viewport(390, 844, mobile=True)
        assert b.js("document.documentElement.scrollWidth") <= 390  # nothing wider than a phone
        assert b.errors == []

        recipe = b.js("(async () => (await (await api(DOWNLOADS.recipe(current.id)[0])).text()))()")  # the download
        story = b.js("(async () => (await (await api(DOWNLOADS.story(current.id)[0])).text()))()")
    finally:
        b.close()
    (tmp_path / "storyforge_directed.yaml").write_text(recipe)
    (tmp_path / "story.txt").write_text(story)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYFORGE_")}
    cli = subprocess.run([sys.executable, "-m", "storyforge", "recipe=storyforge_directed.yaml", "story=story.txt", "output.root=out"], cwd=tmp_path,
                         env={**env, "STORYFORGE_CACHE_DIR": str(tmp_path / "fresh-cache")}, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    made = next((tmp_path / "out").rglob("final.mp4"))
    assert made.read_bytes() == api.get(f"/v1/jobs/{revision}/video").content  # byte for byte, from a cold cache
