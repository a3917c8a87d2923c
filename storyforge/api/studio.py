"""The storyboard studio's routes: revisions of a job (typed edits to its shots and cast, rendered as a new job that
shares the cache, so only what an edit touches is made again), a job's history, the comparison of two jobs shot by
shot, the cast with the voices to choose from, chapters per scene, and the recipe export that makes the same
video from the command line (`storyforge recipe=<file>.yaml story=story.txt`).

Edits are never raw overrides: `ShotEdit` and `CharacterEdit` (storyforge/models.py) are the fields a person may
set, and the stages that apply them (`stages.shots`, `stages.cast`) take the same models.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.concurrency import run_in_threadpool

from storyforge.api.admission import invalid
from storyforge.api.dependencies import Settings, get_store, require_key
from storyforge.api.public import PRIVATE_CONFIG
from storyforge.api.schemas import (
    Cast,
    CastMember,
    Comparison,
    Edits,
    JobOptions,
    JobStatus,
    Revision,
    RevisionList,
    RevisionRequest,
    ShotChange,
    job_overrides,
)
from storyforge.api.store import JobStore
from storyforge.engine.cache import digest

SHOT_STAGE, CAST_STAGE = "storyforge.stages.edits.ApplyShotEdits", "storyforge.stages.cast.ApplyCastEdits"
PICTURES, VOICES = "storyforge.stages.visuals.RenderShot", "storyforge.stages.narration.Narrate"
PORTRAITS = "storyforge.stages.portraits.DrawPortrait"


def stage_named(config: dict, target: str) -> str | None:
    """The name of the recipe's stage that runs `target` (the shot or cast edits), if it has one."""
    return next((n for n, s in (config.get("stages") or {}).items() if isinstance(s, dict) and s.get("_target_") == target), None)


def literal(value: Any) -> Any:
    """Text a person typed, as config that OmegaConf reads back as that text: `${...}` escaped (with any backslashes
    before it), so an edit can never be an interpolation (`${oc.env:...}` would read the server's environment)."""
    if isinstance(value, str):
        return re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", value)
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal(v) for v in value]
    return value


def edits_of(config: dict) -> Edits:
    """The edits a job's config carries, as the text that was typed (the config holds them escaped: `literal`)."""
    from omegaconf import OmegaConf

    stages, shot, cast = config.get("stages") or {}, stage_named(config, SHOT_STAGE), stage_named(config, CAST_STAGE)
    found = {"shots": (stages.get(shot) or {}).get("edits") or {} if shot else {},
             "cast": (stages.get(cast) or {}).get("edits") or {} if cast else {}}  # fmt: skip
    return Edits(**OmegaConf.to_container(OmegaConf.create(found), resolve=True))


def merged(before: Edits, request: RevisionRequest) -> Edits:
    """The parent's edits with the request's on top, field by field; a field sent as null drops the parent's edit
    of it (the shot or character is then as planned)."""
    out = []
    for edits, asked in ((before.shots, request.shots), (before.cast, request.cast)):
        edits = copy.deepcopy(edits)
        for key, edit in asked.items():
            fields = {k: v for k, v in edits.get(key, {}).items() if k not in edit.removals()} | edit.changes()
            edits[key] = fields
            if not fields:
                edits.pop(key)
        out.append(dict(sorted(edits.items())))
    return Edits(shots=out[0], cast=out[1])


def portraits_of(config: dict, folder: Path) -> dict[int, str]:
    """Each character's portrait in the run directory (its file's name there), by the character's place in the
    story, as the run's manifest records the portraits stage: one item per character, in story order. So two
    characters whose names make one id, and a user's own picture, are found where the stage put them."""
    stages = ((read_json(folder / "manifest.json") or {}).get("stages")) or {}
    items = (stages.get(stage_named(config, PORTRAITS) or "") or {}).get("items", [])
    found = {}
    for k, item in enumerate(items):
        front = next((a for a in item.get("artifacts", {}) if a.startswith("cast/") and "_full_body." not in a), None)
        if front and (folder / front).is_file():
            found[k] = front
    return found


def voices_of(config: dict) -> list[str]:
    """The dialogue voices the job's TTS backend has (its Params' defaults under the config's values); [] when one
    voice reads everything."""
    from hydra.utils import get_class

    narration = (config.get("stages") or {}).get(stage_named(config, VOICES) or "")
    tts = dict(((config.get("audio") or {}).get("tts")) or {})
    if narration is None or narration.get("dialogue_voices") is False or "_target_" not in tts:
        return []
    try:
        backend = get_class(tts.pop("_target_"))(**tts)  # cheap: backends load their models on first use
    except Exception:  # a backend this server cannot import: no choice of voices
        return []
    return [str(v) for v in backend.dialogue_voices_for()]


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def shot_id(shot: dict) -> str:
    return f"s{shot['scene_index']:02d}_{shot['index']:02d}"


def outputs_by_item(manifest: dict, stage: str) -> dict[str, str]:
    return {i["item"]: i["output"] for i in ((manifest.get("stages") or {}).get(stage) or {}).get("items", [])}


def compare(a: tuple[dict, dict, list[dict]], b: tuple[dict, dict, list[dict]]) -> list[ShotChange]:
    """The shots that differ between two jobs (config, manifest, shots), in b's story order: a picture or a voice
    whose output differs, or fields of the shot (a transition, a camera move) that changed."""
    (config_a, manifest_a, shots_a), (config_b, manifest_b, shots_b) = a, b

    def outputs(config: dict, manifest: dict, target: str) -> dict[str, str]:
        return outputs_by_item(manifest, stage_named(config, target) or "")

    pictures = outputs(config_a, manifest_a, PICTURES), outputs(config_b, manifest_b, PICTURES)
    voices = outputs(config_a, manifest_a, VOICES), outputs(config_b, manifest_b, VOICES)
    before = {shot_id(s): s for s in shots_a}
    out = []
    for shot in shots_b:
        sid = shot_id(shot)
        old = before.get(sid, {})
        fields = sorted(k for k in set(shot) | set(old) if k != "speech" and shot.get(k) != old.get(k))
        picture = pictures[0].get(sid) != pictures[1].get(sid)
        voice = voices[0].get(sid) != voices[1].get(sid)
        if picture or voice or fields:
            out.append(ShotChange(id=sid, picture=picture, voice=voice, fields=fields))
    return out


def chapters_vtt(edit: dict, scenes: list[dict]) -> str:
    """WebVTT chapters: one cue per scene, from its first shot's start to the next scene's."""
    titles = {s["index"]: s.get("title") or f"Scene {s['index']}" for s in scenes}
    timeline = edit["timeline"]
    starts: dict[int, float] = {}
    for entry in timeline["entries"]:
        starts.setdefault(entry["scene_index"], entry["start_s"])
    order = sorted(starts.items(), key=lambda kv: kv[1])
    lines = ["WEBVTT", ""]
    for n, (scene, start) in enumerate(order):
        end = order[n + 1][1] if n + 1 < len(order) else timeline["duration_s"]
        title = " ".join(str(titles.get(scene, f"Scene {scene}")).split())
        lines += [f"scene-{scene}", f"{_stamp(start)} --> {_stamp(end)}", f"{scene}. {title}", ""]
    return "\n".join(lines)


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def config_groups() -> set[str]:
    """Hydra's config groups (conf/ folders with options), e.g. llm, audio/tts, render."""
    from storyforge.resources import resource_dir

    conf = resource_dir("conf")
    return {str(p.parent.relative_to(conf)) for p in conf.rglob("*.yaml") if p.parent != conf} | {"recipe"}


def export_recipe(row: Any, config: dict, overrides: list[str]) -> str:
    """A recipe that makes this job's video from the command line: the job's recipe, its options as group choices
    and values, its seed, and its edits. The server's own settings (cache, paths) are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups, recipe = config_groups(), row["recipe"]
    choices: dict[str, str] = {}
    values: dict[str, Any] = {}
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.key_or_group
        if o.is_delete() or set(key.split(".")) & PRIVATE_CONFIG:  # the operator's addresses, keys and paths
            continue
        if key == "recipe":
            recipe = str(o.value())
        elif key in groups:
            choices[key] = str(o.value())
        else:
            node = values
            *path, last = key.split(".")
            for part in path:
                node = node.setdefault(part, {})
            node[last] = o.value()
    choices["profile"] = str(config.get("profile_name") or choices.get("profile", "auto"))
    values["seed"] = config.get("seed", 0)
    edits, stages = edits_of(config), values.setdefault("stages", {})
    for target, found in ((SHOT_STAGE, edits.shots), (CAST_STAGE, edits.cast)):
        if found:
            stages.setdefault(stage_named(config, target), {})["edits"] = literal(found)
    if not stages:
        values.pop("stages")
    title = "".join(c if unicodedata.category(c)[0] not in "CZ" else " " for c in row["title"])  # one comment line
    header = [
        "# @package _global_",
        f"# storyforge {row['id']}: {title}" + (f" (a revision of {row['parent']})" if row["parent"] else ""),
        "# The same video from the command line, with the same storyforge and the job's story (story.txt):",
        "#   storyforge recipe=<this file>.yaml story=story.txt",
        "# or save it as recipes/<name>.yaml where you run storyforge, and use recipe=<name>.",
    ]
    body = {"defaults": [recipe, *({f"override /{g}": v} for g, v in sorted(choices.items())), "_self_"], **values}
    return "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)


def add_studio(app: FastAPI, settings: Settings, status_of: Callable[[Any], JobStatus], job_for: Callable[..., Any],
               within_limits: Callable[[str, JobStore], None], create_job: Callable[..., tuple[Any, bool]],
               problems: Callable[..., dict], job_errors: tuple[int, ...]) -> None:  # fmt: skip
    """The studio's routes on `app` (create_app's helpers passed in: the same ownership, limits and job making)."""

    def run_dir(row: Any) -> Path:
        return settings.jobs_dir / row["id"]

    def overrides_of(row: Any) -> list[str]:
        request = json.loads(row["request"] or "{}")
        if "overrides" in request:
            return list(request["overrides"])
        options = JobOptions.model_validate(request.get("options") or {})  # a job stored before revisions
        return [*job_overrides(row["recipe"], request.get("profile", "auto"), options), *settings.overrides]

    def planned(row: Any) -> tuple[list[dict], dict]:
        """The job's shots and story (as its run wrote them); 409 until both exist."""
        shots, story = read_json(run_dir(row) / "shots.json"), read_json(run_dir(row) / "story.json")
        if not shots or not story:
            raise HTTPException(409, f"job {row['id']} has no planned shots yet (status: {row['status']}); wait for it.")
        return shots["shots"], story

    def check(body: RevisionRequest, row: Any, config: dict) -> None:
        if stage_named(config, SHOT_STAGE) is None:
            raise HTTPException(409, f"job {row['id']}'s recipe ({row['recipe']}) has no shot edits stage to revise.")
        if body.cast and stage_named(config, CAST_STAGE) is None:
            raise invalid("cast", f"job {row['id']}'s recipe ({row['recipe']}) has no cast stage; edit its shots only.")
        shots, story = planned(row)
        ids = [shot_id(s) for s in shots]
        names = [c["name"] for c in story.get("characters", [])]
        for sid, edit in body.shots.items():
            if sid not in ids:
                raise invalid(f"shots.{sid}", f"job {row['id']} has no shot {sid}; its shots are {ids[0]} to {ids[-1]}.")
            had = next(s.get("characters", []) for s in shots if shot_id(s) == sid)
            if unknown := [n for n in edit.characters or [] if n not in names and n not in had]:
                raise invalid(f"shots.{sid}.characters", f"{unknown[0]!r} is not in the cast ({', '.join(names) or 'empty'}).")
        voices = voices_of(config) if any(e.voice for e in body.cast.values()) else []
        for name, edit in body.cast.items():
            if name not in names:
                raise invalid(f"cast.{name}", f"{name!r} is not in the cast; its characters are {', '.join(names) or 'none'}.")
            if edit.voice and edit.voice not in voices:
                have = f"one of {', '.join(voices)}" if voices else "none: this job's voice reads every line itself"
                raise invalid(f"cast.{name}.voice", f"{edit.voice!r} is not a dialogue voice of this job's TTS backend ({have}).")

    def revise(parent_id: str, body: RevisionRequest, owner: str, store: JobStore) -> tuple[Any, bool]:
        parent = job_for(parent_id, owner, store)
        config = json.loads(parent["config"])
        check(body, parent, config)
        edits = merged(edits_of(config), body)
        overrides = overrides_of(parent)
        story = (run_dir(parent) / "story.txt").read_text(encoding="utf-8")
        title = body.title or parent["title"]
        key_payload: dict[str, Any] = {"story": story, "title": title, "overrides": overrides}
        if edits.shots or edits.cast:  # no edits at all: the job made without any
            key_payload["edits"] = edits.model_dump()
        key = digest(key_payload)
        if existing := store.find_active_or_done(key, owner):
            return existing, False
        within_limits(owner, store)
        new = copy.deepcopy(config)
        for target, found in ((SHOT_STAGE, edits.shots), (CAST_STAGE, edits.cast)):
            if name := stage_named(new, target):
                new["stages"][name]["edits"] = literal(found)
        changes = {part: {k: {**v.changes(), **dict.fromkeys(v.removals())} for k, v in asked.items()}
                   for part, asked in (("shots", body.shots), ("cast", body.cast))}  # fmt: skip
        request = {"parent": parent["id"], "title": body.title, "changes": changes, "overrides": overrides}
        return create_job(store, key, owner, title, parent["recipe"], story, request, new, parent=parent["id"])

    made = {200: {"model": JobStatus, "description": "The same edits of the same story: the existing job"},
            **problems(*job_errors, 400, 409, 413)}  # fmt: skip

    @app.post("/v1/jobs/{job_id}/revisions", status_code=202, response_model=JobStatus, responses=made)
    async def create_revision(job_id: str, body: RevisionRequest, response: Response, owner: str = Depends(require_key),
                              store: JobStore = Depends(get_store)) -> JobStatus:  # fmt: skip
        """Render a revision: the job with these edits to its shots (description, narration, shot type, camera, length,
        characters, a new take of the picture, the transition into it) and its cast (a character's description and
        dialogue voice). A new job, linked to this one, that shares the cache: only the pictures, voices and
        segments the edits touch are made again. The same edits of the same job return the existing revision (200)."""
        row, created = await run_in_threadpool(revise, job_id, body, owner, store)
        response.headers["Location"] = f"/v1/jobs/{row['id']}"
        if not created:
            response.status_code = 200
        return status_of(row)

    @app.get("/v1/jobs/{job_id}/revisions", response_model=RevisionList, responses=problems(*job_errors))
    def list_revisions(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> RevisionList:
        """The job's edits and its whole history: the job first made and every revision of it (or of its revisions),
        oldest first, each with what its request changed."""
        row = job_for(job_id, owner, store)
        history = []
        for r in store.history(row["id"], owner):
            changes = json.loads(r["request"] or "{}").get("changes") or {}
            history.append(Revision(id=r["id"], parent=r["parent"], status=r["status"], title=r["title"],
                                    created_at=r["created_at"], changes=Edits(**changes)))  # fmt: skip
        return RevisionList(job=row["id"], edits=edits_of(json.loads(row["config"])), revisions=history)

    @app.get("/v1/jobs/{job_id}/compare/{other_id}", response_model=Comparison, responses=problems(*job_errors, 409))
    def compare_jobs(job_id: str, other_id: str, owner: str = Depends(require_key),
                     store: JobStore = Depends(get_store)) -> Comparison:  # fmt: skip
        """The shots that differ between two of this key's jobs (a picture, a voice, or fields of the shot), in the
        second job's story order."""
        sides = []
        for jid in (job_id, other_id):
            row = job_for(jid, owner, store)
            manifest, shots = read_json(run_dir(row) / "manifest.json"), read_json(run_dir(row) / "shots.json")
            if not manifest or not shots:
                raise HTTPException(409, f"job {jid} has not been made yet (status: {row['status']}).")
            sides.append((json.loads(row["config"]), manifest, shots["shots"]))
        return Comparison(a=job_id, b=other_id, shots=compare(sides[0], sides[1]))

    @app.get("/v1/jobs/{job_id}/cast", response_model=Cast, responses=problems(*job_errors, 409))
    def cast(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> Cast:
        """The job's characters as its pictures draw them (its cast edits applied), the shots that show each, and the
        dialogue voices its TTS backend has to choose from."""
        row = job_for(job_id, owner, store)
        config = json.loads(row["config"])
        shots, story = planned(row)
        edits = edits_of(config).cast
        members, folder = [], run_dir(row)
        cards = portraits_of(config, folder)
        for k, c in enumerate(story.get("characters", [])):
            look = {**c, **edits.get(c["name"], {})}
            card = cards.get(k)
            members.append(CastMember(name=c["name"], description=look.get("description", ""), voice=look.get("voice", ""),
                                      shots=[shot_id(s) for s in shots if c["name"] in s.get("characters", [])],
                                      portrait=f"/v1/jobs/{row['id']}/artifacts/{card}" if card else None))  # fmt: skip
        return Cast(characters=members, voices=voices_of(config))

    @app.get("/v1/jobs/{job_id}/chapters.vtt", response_class=Response,
             responses={200: {"content": {"text/vtt": {}}}, **problems(*job_errors)})  # fmt: skip
    def chapters(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> Response:
        """WebVTT chapters, one per scene (a `<track kind="chapters">` for the player)."""
        row = job_for(job_id, owner, store)
        edit, scenes = read_json(run_dir(row) / "edit.json"), read_json(run_dir(row) / "scenes.json")
        if not edit or not scenes:
            raise HTTPException(404, f"job {job_id} has no edit yet (status: {row['status']}).")
        return Response(chapters_vtt(edit, scenes["scenes"]), media_type="text/vtt; charset=utf-8")

    @app.get("/v1/jobs/{job_id}/recipe.yaml", response_class=Response,
             responses={200: {"content": {"application/yaml": {}}}, **problems(*job_errors)})  # fmt: skip
    def recipe(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> Response:
        """The job as a recipe (its options, seed and edits): `storyforge recipe=<file>.yaml story=story.txt` makes
        the same video from the command line (the story is the job's artifacts/story.txt)."""
        row = job_for(job_id, owner, store)
        text = export_recipe(row, json.loads(row["config"]), overrides_of(row))
        return Response(text, media_type="application/yaml; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="storyforge_{row["id"]}.yaml"'})  # fmt: skip
