"""The studio's API through the ASGI app: a revision renders only what its edits touch and joins the job's history;
edits are typed and checked against the job (unknown shot, field, character or voice, text too long: 422); the
same edits are the same job; another key's job is not found; the recipe export composes to the same config."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from storyforge.api.dependencies import Settings
from storyforge.api.main import create_app
from tests.api.test_api import KEY, STORY, wait
from tests.conftest import SMALL

SHOTS = "stages.plan.shot_words=12"  # two_scenes.txt in 4 shots: s01_01, s01_02, s02_01, s02_02


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A server with one finished job of two_scenes.txt: (client, job)."""
    data = tmp_path_factory.mktemp("studio") / "data"
    settings = Settings(api_keys=["k-test-1", "k-test-2"], data_dir=data,
                        overrides=["profile=debug_cpu", *SMALL, SHOTS, "cache.mode=read_write"])  # fmt: skip
    with TestClient(create_app(settings)) as client:
        created = client.post("/v1/jobs", json={"story": STORY, "title": "Kites"}, headers=KEY)
        job = wait(client, created.json()["id"])
        assert job["status"] == "succeeded", job
        yield client, job, settings


def items(client, job_id: str, stage: str, hit: bool) -> list[str]:
    manifest = client.get(f"/v1/jobs/{job_id}/artifacts/manifest.json", headers=KEY).json()
    return [i["item"] for i in manifest["stages"][stage]["items"] if i["hit"] is hit]


def test_a_revision_remakes_only_what_its_edits_touch_and_joins_the_history(studio):
    client, job, _ = studio
    cast = client.get(f"/v1/jobs/{job['id']}/cast", headers=KEY).json()
    tom = next(c for c in cast["characters"] if c["name"] == "Tom")
    assert client.get(tom["portrait"], headers=KEY).headers["content-type"] == "image/png"  # the cast card
    edits = {"shots": {"s01_02": {"description": "A red door in the fog"}},
             "cast": {"Tom": {"description": "a boy in a yellow raincoat"}}}  # fmt: skip
    made = client.post(f"/v1/jobs/{job['id']}/revisions", json=edits, headers=KEY)
    assert made.status_code == 202 and made.json()["parent"] == job["id"], made.text
    revision = wait(client, made.json()["id"])
    assert revision["status"] == "succeeded" and revision["video"], revision
    touched = sorted({"s01_02", *tom["shots"]})
    assert sorted(items(client, revision["id"], "visuals", hit=False)) == touched
    assert items(client, revision["id"], "narration", hit=False) == []  # a look is not a voice
    remade = items(client, revision["id"], "segments", hit=False)
    assert remade and all(set(piece.split("-")) & set(touched) for piece in remade)  # bodies and joins of those shots
    for name in ("story", "scenes", "plan"):
        assert items(client, revision["id"], name, hit=False) == []
    compared = client.get(f"/v1/jobs/{job['id']}/compare/{revision['id']}", headers=KEY).json()
    assert [s["id"] for s in compared["shots"]] == touched and all(s["picture"] and not s["voice"] for s in compared["shots"])
    assert next(s for s in compared["shots"] if s["id"] == "s01_02")["fields"] == ["description"]

    again = client.post(f"/v1/jobs/{job['id']}/revisions", json=edits, headers=KEY)
    assert again.status_code == 200 and again.json()["id"] == revision["id"]  # the same edits: the same job
    nothing = client.post(f"/v1/jobs/{job['id']}/revisions", json={}, headers=KEY)
    assert nothing.status_code == 200 and nothing.json()["id"] == job["id"]  # no edits: the job itself

    on_top = client.post(f"/v1/jobs/{revision['id']}/revisions", json={"shots": {"s02_01": {"take": 1, "transition": "cut"}}},
                         headers=KEY)  # fmt: skip
    third = wait(client, on_top.json()["id"])
    assert items(client, third["id"], "visuals", hit=False) == ["s02_01"]  # a new take: that picture alone
    history = client.get(f"/v1/jobs/{third['id']}/revisions", headers=KEY).json()
    assert [r["id"] for r in history["revisions"]] == [job["id"], revision["id"], third["id"]]
    assert history["revisions"][2]["changes"] == {"shots": {"s02_01": {"take": 1, "transition": "cut"}}, "cast": {}}
    assert history["edits"]["shots"] == {"s01_02": {"description": "A red door in the fog"},
                                         "s02_01": {"take": 1, "transition": "cut"}}  # fmt: skip
    assert history["edits"]["cast"] == edits["cast"]
    edit = client.get(f"/v1/jobs/{third['id']}/artifacts/edit.json", headers=KEY).json()
    assert next(e for e in edit["timeline"]["entries"] if e["shot_id"] == "s02_01")["transition_in"] == "cut"
    listed = client.get("/v1/jobs", headers=KEY).json()["jobs"]
    assert {j["id"]: j["parent"] for j in listed}[third["id"]] == revision["id"]
    assert all(j["duration_s"] > 5 and j["thumbnail"].endswith("s01_01.png") for j in listed)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"shots": {"s09_01": {"description": "x"}}}, ["body", "shots", "s09_01"]),  # no such shot
        ({"shots": {"s01_02": {"colour": "red"}}}, ["body", "shots", "s01_02", "colour"]),  # not a field of a shot
        ({"shots": {"s01_02": {"description": "x" * 2001}}}, ["body", "shots", "s01_02", "description"]),  # too long
        ({"shots": {"s01_02": {"shot_type": "drone"}}}, ["body", "shots", "s01_02", "shot_type"]),
        ({"shots": {"s01_02": {"duration_s": 61}}}, ["body", "shots", "s01_02", "duration_s"]),  # no ten-minute stills
        ({"title": "Mill\u2028hydra: {job: {chdir: true}}"}, ["body", "title"]),  # one line, in YAML too
        ({"shots": {"s01_02": {"characters": ["Nobody"]}}}, ["body", "shots", "s01_02", "characters"]),
        ({"shots": {"../x": {"description": "x"}}}, ["body", "shots", "../x", "[key]"]),
        ({"cast": {"Nobody": {"description": "x"}}}, ["body", "cast", "Nobody"]),
        ({"cast": {"Tom": {"voice": "Darth"}}}, ["body", "cast", "Tom", "voice"]),
        ({"stages.shots.edits": {}}, ["body", "stages.shots.edits"]),  # never a raw override
    ],
)
def test_edits_are_typed_and_checked_against_the_job(studio, body, where):
    client, job, _ = studio
    answer = client.post(f"/v1/jobs/{job['id']}/revisions", json=body, headers=KEY)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == where, answer.json()


def test_another_keys_job_cannot_be_revised_and_an_unplanned_one_waits(studio, tmp_path):
    client, job, _ = studio
    other = {"X-API-Key": "k-test-2"}
    for method, path in (("post", "revisions"), ("get", "revisions"), ("get", "cast"), ("get", "recipe.yaml"),
                         ("get", f"compare/{job['id']}"), ("get", "chapters.vtt")):  # fmt: skip
        kwargs = {"json": {}} if method == "post" else {}
        assert getattr(client, method)(f"/v1/jobs/{job['id']}/{path}", headers=other, **kwargs).status_code == 404, path
    settings = Settings(api_keys=["k-test-1"], data_dir=tmp_path / "data", overrides=["profile=debug_cpu", *SMALL])
    with TestClient(create_app(settings, start_worker=False)) as idle:
        queued = idle.post("/v1/jobs", json={"story": STORY}, headers=KEY).json()
        answer = idle.post(f"/v1/jobs/{queued['id']}/revisions", json={"shots": {"s01_01": {"camera": "static"}}}, headers=KEY)
        assert answer.status_code == 409 and "no planned shots yet" in answer.json()["detail"]


def test_the_recipe_export_composes_to_the_jobs_config_and_chapters_follow_the_scenes(studio, tmp_path, monkeypatch):
    client, job, _ = studio
    made = client.post(f"/v1/jobs/{job['id']}/revisions", json={"shots": {"s01_01": {"camera": "slow pan left"}},
                       "cast": {"Anna": {"voice": "349"}}}, headers=KEY).json()  # fmt: skip
    exported = client.get(f"/v1/jobs/{made['id']}/recipe.yaml", headers=KEY)
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert "cache" not in exported.text and str(tmp_path.parent) not in exported.text  # nothing of the server's
    path = tmp_path / "storyforge_revision.yaml"
    path.write_text(exported.text)
    from storyforge.config import compose

    monkeypatch.setenv("STORYFORGE_PROFILE", "prod_gpu")  # the recipe's own profile wins over the environment
    cfg, reason = compose([f"recipe={path}"])
    from omegaconf import OmegaConf

    config = json.loads(client.app.state.store.get(made["id"])["config"])
    assert reason == "pinned by the recipe" and cfg.profile_name == config["profile_name"] == "debug_cpu"
    assert OmegaConf.to_container(cfg.stages, resolve=True) == config["stages"]
    assert cfg.seed == config["seed"] and OmegaConf.to_container(cfg.render, resolve=True) == config["render"]

    vtt = client.get(f"/v1/jobs/{job['id']}/chapters.vtt", headers=KEY)
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    assert vtt.text.count(" --> ") == len(client.get(f"/v1/jobs/{job['id']}/artifacts/scenes.json", headers=KEY).json()["scenes"])
    assert client.get(f"/v1/jobs/{job['id']}/artifacts/story.txt", headers=KEY).text == STORY


def test_typed_text_stays_text_and_null_returns_a_field_to_the_plan(studio, tmp_path):
    """An edit is never a config interpolation (it would read the server's environment), here or in the export;
    a field sent as null drops the earlier edit of it."""
    client, job, _ = studio
    text = "Tom read ${oc.env:HOME} aloud, and it cost ${5} \\${x}."
    made = client.post(f"/v1/jobs/{job['id']}/revisions", json={"shots": {"s01_01": {"narration": text, "transition": "cut"}},
                       "cast": {"Tom": {"voice": "392"}}}, headers=KEY)  # fmt: skip
    revision = wait(client, made.json()["id"])
    assert revision["status"] == "succeeded", revision["error"]
    shots = client.get(f"/v1/jobs/{revision['id']}/artifacts/shots.json", headers=KEY).json()["shots"]
    assert shots[0]["narration"] == text
    history = client.get(f"/v1/jobs/{revision['id']}/revisions", headers=KEY).json()
    assert history["edits"]["shots"]["s01_01"]["narration"] == text
    exported = tmp_path / "storyforge_typed.yaml"
    exported.write_text(client.get(f"/v1/jobs/{revision['id']}/recipe.yaml", headers=KEY).text)
    from storyforge.config import compose

    cfg, _ = compose([f"recipe={exported}"])
    assert cfg.stages.shots.edits.s01_01.narration == text  # read back as typed, nothing resolved

    back = client.post(f"/v1/jobs/{revision['id']}/revisions", json={"shots": {"s01_01": {"transition": None}},
                       "cast": {"Tom": {"voice": None}}}, headers=KEY).json()  # fmt: skip
    edits = client.get(f"/v1/jobs/{back['id']}/revisions", headers=KEY).json()["edits"]
    assert edits == {"shots": {"s01_01": {"narration": text}}, "cast": {}}


def test_portraits_are_found_where_the_stage_put_them_even_for_two_names_with_one_id(tmp_path):
    from storyforge.api.studio import portraits_of

    (tmp_path / "cast").mkdir()
    for name in ("zoe.png", "zoe_2.png", "zoe_2_full_body.png"):
        (tmp_path / "cast" / name).write_bytes(b"png")
    items = [{"item": "zoe", "artifacts": {"cast/zoe.png": "a"}}, {"item": "zoe_2", "artifacts": {"cast/zoe_2_full_body.png": "b", "cast/zoe_2.png": "c"}},
             {"item": "ghost", "artifacts": {"cast/ghost.png": "d"}}]  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": {"faces": {"items": items}}}))
    config = {"stages": {"faces": {"_target_": "storyforge.stages.portraits.DrawPortrait"}}}
    assert portraits_of(config, tmp_path) == {0: "cast/zoe.png", 1: "cast/zoe_2.png"}  # Zoë and Zoe; no file: none
