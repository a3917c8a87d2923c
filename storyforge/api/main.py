"""The HTTP service: `POST /v1/jobs` turns a story into a video job, `GET /v1/jobs/{id}` follows it, the MP4 and
artifacts are served from the job's run directory, `GET /` is a small web page. Run with `storyforge-serve`.

Jobs are idempotent by content: the same story, title and resolved config return the existing job, across server
processes (a unique constraint in the store). The engine's cache makes a re-submitted, resumed or
cancelled-then-resubmitted job cheap. Every failure a client can cause is a 4xx that says what to change; every
failure of the server's environment (disk full, store busy) is a 503 with Retry-After (README, Service).
"""

from __future__ import annotations

import argparse
import copy
import errno
import json
import logging
import multiprocessing
import re
import shutil
import signal
import sqlite3
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from omegaconf import OmegaConf
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

import storyforge
from storyforge.api.admission import Backoff, Capabilities, RateLimit, check_story, free_mb, invalid, too_many
from storyforge.api.dependencies import Settings, get_store, require_key
from storyforge.api.public import Redactor
from storyforge.api.schemas import JobOptions, JobPage, JobRequest, JobState, JobStatus, StageProgress, job_overrides
from storyforge.api.store import ACTIVE, JobStore
from storyforge.api.studio import add_studio, read_json
from storyforge.api.web import SecurityHeaders, add_pages
from storyforge.api.worker import Worker, progress_of
from storyforge.engine import children
from storyforge.engine.cache import digest
from storyforge.errors import StoryforgeError
from storyforge.text import language

log = logging.getLogger("storyforge")
_compose_lock = threading.Lock()  # Hydra's compose API keeps global state
ARTIFACTS = ("manifest.json", "story.txt", "story.json", "scenes.json", "shots.json", "edit.json", "video.json",
             "subtitles.srt", "subtitles.vtt", "music.wav", "music_score.wav", "mix.m4a", "ducking.wav", "job.log",
             "error.log")  # fmt: skip
SHOT = r"s\d{2,}_\d{2,}"
MEDIA = re.compile(rf"^(shots/{SHOT}\.(png|mp4)|narration/{SHOT}\.wav|segments/{SHOT}(-{SHOT})?\.mp4|cast/[^/.]+\.png)$")
JOB_ROUTES = re.compile(r"^/(v1/jobs|generate|v1/jobs/[^/]+/revisions)/?$")  # the routes that take a body


class BodyLimit:
    """413 as soon as the bytes of a job submission pass the limit (a body sent without Content-Length, or longer
    than it said). The declared Content-Length is checked by the route, after the key and the queue limits."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.settings, self.limit = app, settings, self.limit_for(settings)

    @staticmethod
    def limit_for(settings: Settings) -> int:
        return settings.max_story_bytes * 2 + 65536  # room for JSON escapes and form fields

    @classmethod
    def too_large(cls, settings: Settings) -> HTTPException:
        return HTTPException(
            413, f"the request is over {cls.limit_for(settings)} bytes (stories up to STORYFORGE_MAX_STORY_BYTES)."
        )

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not JOB_ROUTES.match(scope["path"]):
            return await self.app(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            body = json.dumps({"detail": self.too_large(self.settings).detail}).encode()
            await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


_composed: dict[tuple[str, ...], dict] = {}


def resolved_config(overrides: list[str]) -> dict:
    """The job's whole config, resolved (composed the way the CLI composes it). Composing takes most of a second,
    so each set of overrides is composed once per process (the config files do not change under a server)."""
    from storyforge.config import compose

    key = tuple(overrides)
    with _compose_lock:
        if key not in _composed:
            cfg, _ = compose(overrides)
            if len(_composed) >= 256:
                _composed.clear()
            _composed[key] = OmegaConf.to_container(cfg, resolve=True)
        return copy.deepcopy(_composed[key])


class Problem(BaseModel):
    """Every error: `detail` says what went wrong and what to do; validation errors list where and why."""

    detail: str | list[dict[str, Any]]


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these error codes, each a Problem."""
    what = {400: "The request is malformed", 401: "No valid API key", 404: "No such job (or not this key's)",
            409: "The job is in a state that does not allow this", 413: "The story or request is too large",
            422: "The request is invalid: what and where", 429: "Too many requests or jobs (see Retry-After)",
            503: "The server cannot take it now: disk full or store busy (see Retry-After)"}  # fmt: skip
    return {code: {"model": Problem, "description": what[code]} for code in codes}


AUTH = (401, 422, 429, 503)  # every route behind a key: no key, bad parameters, too many tries, server trouble
JOB = (*AUTH, 404)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods some route takes at this path (for a 405's Allow header)."""
    methods: set[str] = set()
    for route in app.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)


def environment_problem(exc: BaseException) -> tuple[str, int] | None:
    """A failure of the server's environment (not the client's request) as a message and a retry delay."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the server's disk is full; try again later.", 300
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower():
        return "the job store is busy; try again in a moment.", 5
    if isinstance(exc, (OSError, sqlite3.Error)):
        return f"the server cannot store jobs right now ({type(exc).__name__}); try again later.", 60
    return None


def create_app(settings: Settings | None = None, start_worker: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    if not settings.api_keys and not settings.insecure_dev:
        raise StoryforgeError(
            "no API keys are configured, and the server will not run open.",
            "set STORYFORGE_API_KEYS=key1,key2 (or STORYFORGE_INSECURE_DEV=1 for a loopback-only development server).",
        )
    logs_to_stderr()
    if (supervisor := multiprocessing.parent_process()) is not None:  # a worker process of `--workers N`
        children.die_with_parent(supervisor.pid)  # kill -9 of the supervisor takes this process (and its jobs) too

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = JobStore(settings.data_dir / "jobs.sqlite")
        app.state.store = store
        app.state.worker = Worker(store, settings.jobs_dir, settings.workers, stale_s=settings.stale_s,
                                  retention_s=settings.retention_days * 86400)  # fmt: skip
        if start_worker:
            app.state.worker.start()
            stop_worker_on_signals(app.state.worker)
        yield
        app.state.worker.stop()
        store.close()

    app = FastAPI(title="storyforge", version=storyforge.__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  redirect_slashes=False,  # no redirect built from the client's Host header
                  description="Turn a story into a narrated, scored, subtitled video.")  # fmt: skip
    app.state.settings = settings
    app.state.backoff = Backoff(free=settings.free_key_tries)
    app.state.rate = RateLimit(settings.rate_per_min)
    app.state.capabilities = Capabilities(settings)
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(SecurityHeaders)
    add_pages(app)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with where and why, without echoing the input (it may be huge, or not even encodable)."""
        errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(StoryforgeError)
    async def bad_input(request: Request, exc: StoryforgeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # static files (mounts) take GET and HEAD
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path) or ["GET", "HEAD"])
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    async def environment(request: Request, exc: Exception) -> JSONResponse:
        found = environment_problem(exc)
        if found is None:
            raise exc
        message, retry = found
        log.warning("503 for %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": str(retry)})

    app.add_exception_handler(OSError, environment)
    app.add_exception_handler(sqlite3.Error, environment)

    def status_of(row: Any) -> JobStatus:
        stages = json.loads(row["stages"] or "{}")
        run_dir = settings.jobs_dir / row["id"]
        done = row["status"] == JobState.succeeded.value
        error = Redactor(settings.data_dir, row["id"]).text(row["error"]) if row["error"] else None
        return JobStatus(
            id=row["id"], status=row["status"], title=row["title"], recipe=row["recipe"], profile=row["profile"],
            progress=100 if done else progress_of(stages, row["stage_total"]), created_at=row["created_at"],
            updated_at=row["updated_at"], stages={k: StageProgress(**v) for k, v in stages.items()}, error=error,
            video=f"/v1/jobs/{row['id']}/video" if done and (run_dir / "final.mp4").is_file() else None,
            artifacts=[n for n in ARTIFACTS if (run_dir / n).is_file()], duration_s=duration_of(run_dir) if done else None,
            thumbnail=thumbnail_of(row["id"], run_dir), parent=row["parent"],
        )  # fmt: skip

    def job_for(job_id: str, owner: str, store: JobStore) -> Any:
        row = store.get(job_id) if re.fullmatch(r"[0-9a-f]{16}", job_id) else None
        if row is None or row["owner"] != owner:
            raise HTTPException(404, f"no job {job_id}.")
        return row

    async def read_request(request: Request) -> JobRequest:
        kind = request.headers.get("content-type", "")
        try:
            if kind.startswith("multipart/form-data"):
                return await read_form(request)
            body = (await request.body()).removeprefix(b"\xef\xbb\xbf")  # a byte-order mark is not an error
            return JobRequest.model_validate_json(body)  # pydantic's parser: depth-limited, no 500s
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc

    async def read_form(request: Request) -> JobRequest:
        form = await request.form()
        items = form.multi_items()
        if twice := sorted({k for k, _ in items if sum(1 for k2, _ in items if k2 == k) > 1}):
            raise invalid(twice[0], f"the form has more than one '{twice[0]}' field; send one story per job.")
        fields = dict(items)
        upload = fields.pop("file", None)
        if upload is None or isinstance(upload, str):
            raise RequestValidationError([{"loc": ("body", "file"), "msg": "a story file is required", "type": "missing"}])
        if "story" in fields:
            raise invalid("story", "a form upload sends the story as its 'file'; drop the 'story' field.")
        if stray := [k for k, v in fields.items() if not isinstance(v, str)]:
            raise invalid(stray[0], f"'{stray[0]}' is a file; only 'file' may be one.")
        try:
            story = (await upload.read()).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise invalid("file", "the file is not UTF-8 text; save it as UTF-8.") from exc
        options = {k: fields.pop(k) for k in list(fields) if k in JobOptions.model_fields}
        if "options" in fields:  # the JSON body's options object, as one form field
            try:
                given = json.loads(fields.pop("options"))
            except (ValueError, RecursionError) as exc:
                raise invalid("options", "the 'options' field is not a JSON object.") from exc
            if not isinstance(given, dict):
                raise invalid("options", "the 'options' field is not a JSON object.")
            if both := sorted(set(given) & set(options)):
                raise invalid("options", f"'{both[0]}' is given both in 'options' and as a field of its own.")
            options.update(given)
        return JobRequest.model_validate({"story": story, **fields, "options": options})

    openapi_body = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}},
                "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string", "format": "binary"}, "recipe": {"type": "string"},
                    "profile": {"type": "string"}, "title": {"type": "string"},
                    "options": {"type": "string", "description": "The options object as JSON"},
                    **{k: {"type": "string"} for k in JobOptions.model_fields}}}},
            },
        }
    }  # fmt: skip
    submitted = {200: {"model": JobStatus, "description": "The same story, title and config: the existing job"},
                 **problems(400, 401, 413, 422, 429, 503)}  # fmt: skip

    @app.post("/v1/jobs", status_code=202, response_model=JobStatus, openapi_extra=openapi_body, responses=submitted)
    async def submit(request: Request, response: Response, owner: str = Depends(require_key),
                     store: JobStore = Depends(get_store)) -> JobStatus:  # fmt: skip
        """Queue a story (JSON, or a multipart file upload). Returns 202 and a Location header, or 200 and the
        existing job for the same story, title and options.

        Checked in order of cost: the key and its rate, the declared size, the story, an identical job (returned
        as it is), the queue limits and free disk, the profile and voice against what this server runs; only then
        is the job's config composed."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > BodyLimit.limit_for(settings):
            raise BodyLimit.too_large(settings)
        job = await read_request(request)
        if len(job.story.encode()) > settings.max_story_bytes:
            raise HTTPException(413, f"the story is over {settings.max_story_bytes} bytes.")
        check_story(job.story)
        row, created = await run_in_threadpool(accept, job, owner, store, request.app.state.capabilities)
        response.headers["Location"] = f"/v1/jobs/{row['id']}"
        if not created:
            response.status_code = 200
        return status_of(row)

    def accept(job: JobRequest, owner: str, store: JobStore, capabilities: Capabilities) -> tuple[Any, bool]:
        """The existing job for this request, or a new one once it passes the limits (in a worker thread: the store
        and the disk may block). Returns the row and whether it was made now."""
        title = job.title or next((line.strip() for line in job.story.splitlines() if line.strip()), "story")[:120]
        overrides = [*job_overrides(job.recipe, job.profile, job.options), *settings.overrides]
        key = digest({"story": job.story, "title": title, "overrides": overrides})
        if existing := store.find_active_or_done(key, owner):  # a retry gets its job, even at the key's limit
            return existing, False
        try:
            within_limits(owner, store)
        except HTTPException as exc:  # a twin made since the lookup (a burst of retries) is its job, not a 429
            if exc.status_code == 429 and (twin := store.find_active_or_done(key, owner)):
                return twin, False
            raise
        capabilities.check(job.profile, job.options.voice, job.options.language or (job.options.voice and language(job.story)))
        from storyforge.config import recipe_names

        if job.recipe not in recipe_names():
            raise invalid("recipe", f"unknown recipe; one of {recipe_names()}")
        try:
            config = resolved_config([*overrides, f"cache.dir='{settings.data_dir}'"])
        except StoryforgeError as exc:  # the client's options are allowlisted: a failure here is the operator's
            log.error("cannot compose a job's config (check STORYFORGE_SERVER_OVERRIDES): %s", exc)
            raise HTTPException(503, "this server's configuration is broken; its operator can see why in the log.",
                                headers={"Retry-After": "300"}) from None  # fmt: skip
        request = {**job.model_dump(mode="json", exclude={"story"}), "overrides": overrides}
        return create_job(store, key, owner, title, job.recipe, job.story, request, config)

    def within_limits(owner: str, store: JobStore) -> None:
        """429 when the queue or this key's jobs are at their limits, 503 when the disk is nearly full."""
        if store.count((JobState.queued.value,)) >= settings.queue_limit:
            raise too_many("the queue is full; try again later.", 60)
        if store.count(ACTIVE, owner) >= settings.jobs_per_key:
            raise too_many(f"this key already has {settings.jobs_per_key} jobs queued or running.", 30)
        if free_mb(settings.data_dir) < settings.min_free_mb:
            raise HTTPException(503, "the server's disk is nearly full; try again later.", headers={"Retry-After": "300"})

    def create_job(store: JobStore, key: str, owner: str, title: str, recipe: str, story: str, request: dict,
                   config: dict, parent: str | None = None) -> tuple[Any, bool]:  # fmt: skip
        """A queued job with its story file (or the twin another request made first): the row, and whether it is new."""
        for _ in range(3):  # a twin made meanwhile (maybe by another server process) wins; retry if it just ended
            job_id = store.new_id()
            run_dir = settings.jobs_dir / job_id
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
                (run_dir / "story.txt").write_text(story, encoding="utf-8")
                twin = store.create(job_id, key, owner, title, recipe, str(config.get("profile_name")), request,
                                    {**config, "story": str(run_dir / "story.txt")}, len(config.get("stages") or {}) or 1,
                                    parent)  # fmt: skip
            except BaseException:
                shutil.rmtree(run_dir, ignore_errors=True)
                raise
            if twin is None:
                return store.get(job_id), True
            shutil.rmtree(run_dir, ignore_errors=True)
            if twin is not store.GONE:
                return twin, False
        raise HTTPException(503, "the job store is busy; try again in a moment.", headers={"Retry-After": "5"})

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus, responses=problems(*JOB))
    def job_status(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobStatus:
        """Status, progress (0-100), per-stage hits and misses, and the error if it failed."""
        return status_of(job_for(job_id, owner, store))

    @app.get("/v1/jobs", response_model=JobPage, responses=problems(*AUTH))
    def list_jobs(page: int = Query(1, ge=1, le=100000), per_page: int = Query(20, ge=1, le=100),
                  owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobPage:  # fmt: skip
        """This key's jobs, newest first."""
        rows, total = store.page(owner, page, per_page)
        return JobPage(jobs=[status_of(r) for r in rows], page=page, per_page=per_page, total=total)

    @app.post("/v1/jobs/{job_id}/cancel", response_model=JobStatus, responses=problems(*JOB, 409))
    def cancel(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobStatus:
        """Cancel: a queued job at once, a running one within a second (its processes killed; finished work stays
        cached). Cancelling a cancelled job is a no-op; a job that already ended otherwise is 409."""
        row = job_for(job_id, owner, store)
        if row["status"] in (JobState.succeeded.value, JobState.failed.value):
            raise HTTPException(409, f"job {job_id} already {row['status']}; DELETE it to remove it.")
        store.request_cancel(job_id)
        return status_of(store.get(job_id))

    @app.delete("/v1/jobs/{job_id}", status_code=204, response_class=Response, responses=problems(*JOB, 409))
    def delete(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> Response:
        """Remove a job that is not running, with its story, video and files. (What the engine cached stays shared
        until `storyforge-cache gc`.) A running job is 409: cancel it first."""
        job_for(job_id, owner, store)
        if (kept := store.delete(job_id)) is not None:
            raise HTTPException(409, f"job {job_id} is {kept}; cancel it first (POST /v1/jobs/{job_id}/cancel).")
        shutil.rmtree(settings.jobs_dir / job_id, ignore_errors=True)
        return Response(status_code=204)

    @app.get("/v1/jobs/{job_id}/video", response_class=FileResponse,
             responses={200: {"content": {"video/mp4": {}}}, 206: {"description": "The part a Range header asked for",
                        "content": {"video/mp4": {}}}, 416: {"description": "The Range is past the end of the file"},
                        **problems(*JOB)})  # fmt: skip
    def video(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> FileResponse:
        """The MP4 (HTTP Range requests supported)."""
        row = job_for(job_id, owner, store)
        path = settings.jobs_dir / row["id"] / "final.mp4"
        if row["status"] != JobState.succeeded.value or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no video yet (status: {row['status']}).")
        return FileResponse(path, media_type="video/mp4", filename=f"{job_id}.mp4")

    @app.get("/v1/jobs/{job_id}/artifacts/{name:path}", response_class=FileResponse, responses=problems(*JOB))
    def artifact(job_id: str, name: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> Response:
        """manifest.json, story/scenes/shots/edit/video.json, subtitles.srt|vtt, job.log, music, the mix, and per-shot
        media (shots/s01_02.png|mp4, narration/s01_02.wav, segments/s01_02.mp4, segments/s01_02-s01_03.mp4) and the
        cast sheet's portraits (cast/anna.png).
        Nothing outside the job's run directory; the manifest and logs without the server's paths and setup."""
        row = job_for(job_id, owner, store)
        if name not in ARTIFACTS and not MEDIA.fullmatch(name):
            raise HTTPException(404, f"no artifact named {name!r}.")
        run_dir = (settings.jobs_dir / row["id"]).resolve()
        path = (run_dir / name).resolve()
        if not path.is_relative_to(run_dir) or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no {name} (yet).")
        redact = Redactor(settings.data_dir, row["id"])
        if name == "manifest.json":
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:  # being written: the client asks again
                raise HTTPException(404, f"job {job_id}'s manifest is being written; ask again.") from exc
            return JSONResponse(redact.manifest(manifest))
        if name in ("job.log", "error.log"):
            return PlainTextResponse(redact.text(path.read_text(encoding="utf-8", errors="replace")))
        return FileResponse(path)

    @app.post("/generate", status_code=202, response_model=JobStatus, openapi_extra=openapi_body, responses=submitted)
    async def generate(request: Request, response: Response, owner: str = Depends(require_key),
                       store: JobStore = Depends(get_store)) -> JobStatus:  # fmt: skip
        """Alias of POST /v1/jobs (the name the original design uses)."""
        return await submit(request, response, owner, store)

    @app.get("/status/{job_id}", response_model=JobStatus, responses=problems(*JOB))
    def status_alias(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobStatus:
        """Alias of GET /v1/jobs/{id}."""
        return status_of(job_for(job_id, owner, store))

    add_studio(app, settings, status_of, job_for, within_limits, create_job, problems, JOB)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        """The process is up."""
        return "ok"

    @app.get("/readyz", response_class=PlainTextResponse, responses={503: {"description": "Not ready, and why"}})
    def readyz(request: Request) -> PlainTextResponse:
        """Ready for jobs: the job store can be written, the disk has room (STORYFORGE_MIN_FREE_MB), a worker runs."""
        problem = None
        try:
            request.app.state.store.check()
        except sqlite3.Error as exc:
            problem = f"the job store cannot be written ({exc})"
        if problem is None and (free := free_mb(settings.data_dir)) < settings.min_free_mb:
            problem = f"{free:.0f} MiB free on the data disk, under STORYFORGE_MIN_FREE_MB={settings.min_free_mb}"
        if problem is None and start_worker and not request.app.state.worker.alive:
            problem = "no worker is running"
        if problem:
            return PlainTextResponse(f"not ready: {problem}.", status_code=503, headers={"Retry-After": "30"})
        return PlainTextResponse("ready")

    @app.get("/example-story", response_class=PlainTextResponse)
    def example_story() -> str:
        """The bundled example story, for trying the service."""
        from storyforge.resources import asset

        return Path(asset("example_story.txt")).read_text(encoding="utf-8")

    def openapi() -> dict:
        """FastAPI's schema, with the request body's models among the components it refers to."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            body = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components["JobRequest"] = body
            link_jobs(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app


def duration_of(run_dir: Path) -> float | None:
    """The finished video's length, from video.json."""
    video = read_json(run_dir / "video.json")
    return round(float(video["duration_s"]), 2) if isinstance(video, dict) and "duration_s" in video else None


def thumbnail_of(job_id: str, run_dir: Path) -> str | None:
    """The first shot's picture (a still; a clip's keyframe is not kept), once drawn."""
    first = min((run_dir / "shots").glob("*.png"), default=None) if (run_dir / "shots").is_dir() else None
    return f"/v1/jobs/{job_id}/artifacts/shots/{first.name}" if first else None


def link_jobs(schema: dict) -> None:
    """OpenAPI links from a submission to what a client does next with the job (follow, cancel, delete, fetch):
    clients and Schemathesis's stateful tests walk them."""
    paths = schema["paths"]
    targets = {"GetJob": ("/v1/jobs/{job_id}", "get"), "CancelJob": ("/v1/jobs/{job_id}/cancel", "post"),
               "DeleteJob": ("/v1/jobs/{job_id}", "delete"), "GetVideo": ("/v1/jobs/{job_id}/video", "get")}  # fmt: skip
    links = {
        name: {"operationId": paths[path][method]["operationId"], "parameters": {"job_id": "$response.body#/id"}}
        for name, (path, method) in targets.items()
    }
    for path in ("/v1/jobs", "/generate"):
        for code in ("200", "202"):
            paths[path]["post"]["responses"][code]["links"] = links


def stop_worker_on_signals(worker: Worker) -> None:
    """SIGTERM and SIGINT stop the worker at once (its jobs re-queued within a second), before uvicorn's own handler
    starts its graceful shutdown, which waits for open requests before the app's shutdown runs."""
    if threading.current_thread() is not threading.main_thread():  # signals belong to the main thread
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if callable(previous):

            def handler(signum: int, frame: Any, previous: Any = previous) -> None:
                worker.begin_stop()
                previous(signum, frame)

            signal.signal(sig, handler)


def logs_to_stderr() -> None:
    """Pipeline lines reach the server's log and each job's job.log, in every server process (uvicorn's worker
    processes start without the logging the parent set up)."""
    logger = logging.getLogger("storyforge")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)


def serve(argv: list[str] | None = None) -> None:
    """`storyforge-serve`: the API with uvicorn. Flags default to STORYFORGE_HOST / _PORT / _WORKERS."""
    import os

    import uvicorn

    parser = argparse.ArgumentParser(prog="storyforge-serve", description="storyforge's HTTP API and web page.")
    parser.add_argument("--host", default=os.environ.get("STORYFORGE_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STORYFORGE_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("STORYFORGE_WORKERS", "1")),
                        help="server processes (each runs STORYFORGE_JOB_WORKERS jobs at once)")  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    try:
        settings = Settings.from_env()
        create_app(settings, start_worker=False)  # refuses to start without keys, before binding
    except StoryforgeError as exc:
        raise SystemExit(f"storyforge-serve: error: {exc}") from None
    host = args.host
    if not settings.api_keys and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("STORYFORGE_INSECURE_DEV without keys: binding to 127.0.0.1, not %s", host)
        host = "127.0.0.1"
    uvicorn.run(
        "storyforge.api.main:create_app",
        factory=True,
        host=host,
        port=args.port,
        workers=args.workers,
        timeout_graceful_shutdown=5,
    )  # a stop waits this long for open requests, then the jobs are re-queued
