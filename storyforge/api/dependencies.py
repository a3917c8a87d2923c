"""Settings from the environment, API-key authentication, and the shared job store and worker."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from storyforge.api.store import JobStore
from storyforge.errors import StoryforgeError


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError as exc:
        raise StoryforgeError(f"{name}={value} is not a whole number.", f"set {name} to a number, e.g. {default}.") from exc


@dataclass
class Settings:
    """Everything the service reads from its environment (see .env.example)."""

    api_keys: list[str] = field(default_factory=list)  # STORYFORGE_API_KEYS, comma-separated
    insecure_dev: bool = False  # STORYFORGE_INSECURE_DEV=1: no keys, loopback only
    data_dir: Path = Path()  # STORYFORGE_CACHE_DIR (as the CLI): the cache, jobs.sqlite and jobs/<id>/
    max_story_bytes: int = 1_000_000  # STORYFORGE_MAX_STORY_BYTES
    queue_limit: int = 100  # STORYFORGE_QUEUE_LIMIT: queued jobs before 429
    jobs_per_key: int = 4  # STORYFORGE_JOBS_PER_KEY: queued or running jobs one key may have
    workers: int = 1  # STORYFORGE_JOB_WORKERS: jobs run at once (one per GPU)
    overrides: list[str] = field(default_factory=list)  # STORYFORGE_SERVER_OVERRIDES: config every job gets (operator's)
    stale_s: float = 60.0  # STORYFORGE_STALE_S: a running job unheard of this long is re-queued (its server stopped)

    @classmethod
    def from_env(cls) -> Settings:
        from storyforge.engine.pipeline import default_cache_dir

        keys = [k.strip() for k in os.environ.get("STORYFORGE_API_KEYS", "").split(",") if k.strip()]
        cache = os.environ.get("STORYFORGE_CACHE_DIR", "").strip()
        return cls(
            api_keys=keys,
            insecure_dev=os.environ.get("STORYFORGE_INSECURE_DEV", "").strip().lower() in ("1", "true", "yes"),
            data_dir=Path(cache).expanduser() if cache else default_cache_dir(),
            max_story_bytes=_int("STORYFORGE_MAX_STORY_BYTES", 1_000_000),
            queue_limit=_int("STORYFORGE_QUEUE_LIMIT", 100),
            jobs_per_key=_int("STORYFORGE_JOBS_PER_KEY", 4),
            workers=_int("STORYFORGE_JOB_WORKERS", 1),
            overrides=os.environ.get("STORYFORGE_SERVER_OVERRIDES", "").split(),
            stale_s=_int("STORYFORGE_STALE_S", 60),
        )

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


def owner_of(key: str) -> str:
    """Who owns a job: a hash of the key (the key itself is never stored)."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from STORYFORGE_API_KEYS")
_bearer = HTTPBearer(auto_error=False, description="The same key as a bearer token")


def require_key(
    request: Request,
    header: str | None = Depends(_header),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> str:
    """The caller's owner id; 401 without a valid key. Keys are compared in constant time."""
    settings: Settings = request.app.state.settings
    if settings.insecure_dev and not settings.api_keys:
        return owner_of("insecure-dev")
    given = header or (bearer.credentials if bearer else "")
    valid = any(hmac.compare_digest(given.encode(), key.encode()) for key in settings.api_keys) if given else False
    if not valid:
        raise HTTPException(401, "a valid API key is required (X-API-Key or Authorization: Bearer).",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
    return owner_of(given)


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings
