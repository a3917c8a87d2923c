"""The HTTP service: `POST /v1/jobs` turns a story into a video job, `GET /v1/jobs/{id}` follows it, the MP4 and
artifacts are served from the job's run directory, `GET /` is a small web page. Run with `storyforge-serve`.

Jobs are idempotent by content: the same story with the same resolved config returns the existing job. The
engine's cache makes a re-submitted, resumed or cancelled-then-resubmitted job cheap.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from omegaconf import OmegaConf
from pydantic import ValidationError

import storyforge
from storyforge.api.dependencies import Settings, get_settings, get_store, require_key
from storyforge.api.schemas import JobOptions, JobPage, JobRequest, JobState, JobStatus, StageProgress
from storyforge.api.store import ACTIVE, JobStore
from storyforge.api.worker import Worker, progress_of
from storyforge.engine.cache import digest
from storyforge.errors import StoryforgeError

log = logging.getLogger("storyforge")
_compose_lock = threading.Lock()  # Hydra's compose API keeps global state
ARTIFACTS = ("manifest.json", "story.json", "scenes.json", "shots.json", "edit.json", "video.json", "subtitles.srt",
             "subtitles.vtt", "music.wav", "music_score.wav", "mix.m4a", "ducking.wav", "job.log", "error.log")  # fmt: skip
SHOT = r"s\d{2,}_\d{2,}"
MEDIA = re.compile(rf"^(shots/{SHOT}\.(png|mp4)|narration/{SHOT}\.wav|segments/{SHOT}(-{SHOT})?\.mp4)$")
JOB_ROUTES = ("/v1/jobs", "/generate")


class BodyLimit:
    """413 for a job submission whose body is over the limit: from Content-Length before reading, or as soon as
    the bytes received pass it."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self.app, self.limit = app, settings.max_story_bytes * 2 + 65536  # room for JSON escapes and form fields

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") not in JOB_ROUTES:
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._too_large(send)
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
            await self._too_large(send)

    async def _too_large(self, send: Any) -> None:
        body = json.dumps({"detail": f"the request is over {self.limit} bytes (stories up to STORYFORGE_MAX_STORY_BYTES)."})
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})


class _TooLarge(Exception):
    pass


def resolved_config(overrides: list[str]) -> dict:
    """The job's whole config, resolved (composed the way the CLI composes it)."""
    from storyforge.config import compose

    with _compose_lock:
        cfg, _ = compose(overrides)
    return OmegaConf.to_container(cfg, resolve=True)


def create_app(settings: Settings | None = None, start_worker: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    if not settings.api_keys and not settings.insecure_dev:
        raise StoryforgeError(
            "no API keys are configured, and the server will not run open.",
            "set STORYFORGE_API_KEYS=key1,key2 (or STORYFORGE_INSECURE_DEV=1 for a loopback-only development server).",
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = JobStore(settings.data_dir / "jobs.sqlite")
        app.state.store = store
        app.state.worker = Worker(store, settings.jobs_dir, settings.workers, stale_s=settings.stale_s)
        if start_worker:
            app.state.worker.start()
        yield
        app.state.worker.stop()
        store.close()

    app = FastAPI(title="storyforge", version=storyforge.__version__, lifespan=lifespan,
                  description="Turn a story into a narrated, scored, subtitled video.")  # fmt: skip
    app.state.settings = settings
    app.add_middleware(BodyLimit, settings=settings)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with where and why, without echoing the input (it may be huge, or not even encodable)."""
        errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(StoryforgeError)
    async def bad_input(request: Request, exc: StoryforgeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    def status_of(row: Any) -> JobStatus:
        stages = json.loads(row["stages"] or "{}")
        run_dir = settings.jobs_dir / row["id"]
        done = row["status"] == JobState.succeeded.value
        return JobStatus(
            id=row["id"], status=row["status"], title=row["title"], recipe=row["recipe"], profile=row["profile"],
            progress=100 if done else progress_of(stages, row["stage_total"]), created_at=row["created_at"],
            updated_at=row["updated_at"], stages={k: StageProgress(**v) for k, v in stages.items()}, error=row["error"],
            video=f"/v1/jobs/{row['id']}/video" if done and (run_dir / "final.mp4").is_file() else None,
            artifacts=[n for n in ARTIFACTS if (run_dir / n).is_file()],
        )  # fmt: skip

    def job_for(job_id: str, owner: str, store: JobStore) -> Any:
        row = store.get(job_id) if re.fullmatch(r"[0-9a-f]{16}", job_id) else None
        if row is None or row["owner"] != owner:
            raise HTTPException(404, f"no job {job_id}.")
        return row

    async def read_request(request: Request, settings: Settings) -> JobRequest:
        kind = request.headers.get("content-type", "")
        try:
            if kind.startswith("multipart/form-data"):
                form = await request.form()
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise RequestValidationError(
                        [{"loc": ("body", "file"), "msg": "a story file is required", "type": "missing"}]
                    )
                raw = await upload.read()
                try:
                    story = raw.decode("utf-8-sig")
                except UnicodeDecodeError as exc:
                    raise RequestValidationError([{"loc": ("body", "file"), "msg": "the file is not UTF-8 text",
                                                   "type": "value_error"}]) from exc  # fmt: skip
                fields = {k: v for k, v in form.items() if k != "file"}
                options = {k: fields.pop(k) for k in list(fields) if k in JobOptions.model_fields}
                return JobRequest.model_validate({"story": story, **fields, "options": options})
            body = await request.json()
            return JobRequest.model_validate(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc
        except ValueError as exc:
            raise RequestValidationError([{"loc": ("body",), "msg": f"invalid JSON: {exc}", "type": "json_invalid"}]) from exc

    openapi_body = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")},
                "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string", "format": "binary"}, "recipe": {"type": "string"},
                    "profile": {"type": "string"}, "title": {"type": "string"},
                    **{k: {"type": "string"} for k in JobOptions.model_fields}}}},
            },
        }
    }  # fmt: skip

    @app.post("/v1/jobs", status_code=202, response_model=JobStatus, openapi_extra=openapi_body,
              responses={200: {"description": "The same story and config: the existing job"}, 413: {}, 422: {}, 429: {}})  # fmt: skip
    async def submit(request: Request, response: Response, owner: str = Depends(require_key),
                     store: JobStore = Depends(get_store), settings: Settings = Depends(get_settings)) -> JobStatus:  # fmt: skip
        """Queue a story (JSON, or a multipart file upload). Returns 202 and a Location header."""
        job = await read_request(request, settings)
        if len(job.story.encode()) > settings.max_story_bytes:
            raise HTTPException(413, f"the story is over {settings.max_story_bytes} bytes.")
        from storyforge.config import recipe_names

        if job.recipe not in recipe_names():
            raise RequestValidationError([{"loc": ("body", "recipe"), "msg": f"unknown recipe; one of {recipe_names()}",
                                           "type": "value_error"}])  # fmt: skip
        overrides = [f"recipe={job.recipe}", f"profile={job.profile}", *job.options.overrides(), *settings.overrides,
                     f"cache.dir='{settings.data_dir}'"]  # fmt: skip
        config = await run_in_threadpool(resolved_config, overrides)  # Hydra is slow-ish: off the event loop
        key = digest({"story": job.story, "config": {k: v for k, v in config.items() if k not in ("story", "cache", "output")}})
        if existing := store.find_active_or_done(key, owner):
            response.status_code = 200
            response.headers["Location"] = f"/v1/jobs/{existing['id']}"
            return status_of(existing)
        if store.count((JobState.queued.value,)) >= settings.queue_limit:
            raise HTTPException(429, "the queue is full; try again later.", headers={"Retry-After": "60"})
        if store.count(ACTIVE, owner) >= settings.jobs_per_key:
            raise HTTPException(429, f"this key already has {settings.jobs_per_key} jobs queued or running.",
                                headers={"Retry-After": "30"})  # fmt: skip
        title = job.title or next((line.strip() for line in job.story.splitlines() if line.strip()), "story")[:120]
        job_id = store.new_id()
        story_path = settings.jobs_dir / job_id / "story.txt"
        story_path.parent.mkdir(parents=True, exist_ok=True)
        story_path.write_text(job.story, encoding="utf-8")
        store.create(job_id, key, owner, title, job.recipe, str(config.get("profile_name")),
                     job.model_dump(mode="json", exclude={"story"}), {**config, "story": str(story_path)},
                     len(config.get("stages") or {}) or 1)  # fmt: skip
        response.headers["Location"] = f"/v1/jobs/{job_id}"
        return status_of(store.get(job_id))

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus)
    def job_status(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobStatus:
        """Status, progress (0-100), per-stage hits and misses, and the error if it failed."""
        return status_of(job_for(job_id, owner, store))

    @app.get("/v1/jobs", response_model=JobPage)
    def list_jobs(page: int = Query(1, ge=1, le=100000), per_page: int = Query(20, ge=1, le=100),
                  owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobPage:  # fmt: skip
        """This key's jobs, newest first."""
        rows, total = store.page(owner, page, per_page)
        return JobPage(jobs=[status_of(r) for r in rows], page=page, per_page=per_page, total=total)

    @app.delete("/v1/jobs/{job_id}", response_model=JobStatus)
    def cancel(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobStatus:
        """Cancel: a queued job at once, a running one at its next finished item. Finished stages stay cached."""
        job_for(job_id, owner, store)
        store.request_cancel(job_id)
        return status_of(store.get(job_id))

    @app.get("/v1/jobs/{job_id}/video", response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}}, 404: {}})
    def video(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> FileResponse:
        """The MP4 (HTTP Range requests supported)."""
        row = job_for(job_id, owner, store)
        path = settings.jobs_dir / row["id"] / "final.mp4"
        if row["status"] != JobState.succeeded.value or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no video yet (status: {row['status']}).")
        return FileResponse(path, media_type="video/mp4", filename=f"{job_id}.mp4")

    @app.get("/v1/jobs/{job_id}/artifacts/{name:path}", response_class=FileResponse, responses={404: {}})
    def artifact(job_id: str, name: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> FileResponse:
        """manifest.json, story/scenes/shots/edit/video.json, subtitles.srt|vtt, job.log, music, the mix, and per-shot
        media (shots/s01_02.png|mp4, narration/s01_02.wav, segments/s01_02.mp4, segments/s01_02-s01_03.mp4).
        Nothing outside the job's run directory."""
        row = job_for(job_id, owner, store)
        if name not in ARTIFACTS and not MEDIA.fullmatch(name):
            raise HTTPException(404, f"no artifact named {name!r}.")
        run_dir = (settings.jobs_dir / row["id"]).resolve()
        path = (run_dir / name).resolve()
        if not path.is_relative_to(run_dir) or not path.is_file():
            raise HTTPException(404, f"job {job_id} has no {name} (yet).")
        return FileResponse(path)

    @app.post("/generate", status_code=202, response_model=JobStatus, openapi_extra=openapi_body, include_in_schema=True)
    async def generate(request: Request, response: Response, owner: str = Depends(require_key),
                       store: JobStore = Depends(get_store), settings: Settings = Depends(get_settings)) -> JobStatus:  # fmt: skip
        """Alias of POST /v1/jobs (the name the original design uses)."""
        return await submit(request, response, owner, store, settings)

    @app.get("/status/{job_id}", response_model=JobStatus)
    def status_alias(job_id: str, owner: str = Depends(require_key), store: JobStore = Depends(get_store)) -> JobStatus:
        """Alias of GET /v1/jobs/{id}."""
        return status_of(job_for(job_id, owner, store))

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        """The process is up."""
        return "ok"

    @app.get("/readyz", response_class=PlainTextResponse, responses={503: {}})
    def readyz(request: Request) -> str:
        """The job store answers and a worker is running."""
        try:
            request.app.state.store.count(ACTIVE)
        except Exception as exc:
            raise HTTPException(503, f"job store unavailable: {exc}") from exc
        if start_worker and not request.app.state.worker.alive:
            raise HTTPException(503, "no worker is running.")
        return "ready"

    @app.get("/example-story", response_class=PlainTextResponse)
    def example_story() -> str:
        """The bundled example story, for trying the service."""
        from storyforge.resources import asset

        return Path(asset("example_story.txt")).read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return files("storyforge.api").joinpath("static/index.html").read_text(encoding="utf-8")

    return app


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
    uvicorn.run("storyforge.api.main:create_app", factory=True, host=host, port=args.port, workers=args.workers)
