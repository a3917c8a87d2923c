"""Settings from the environment, API-key authentication, and the shared job store and worker."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from storyforge.api.admission import Backoff, too_many
from storyforge.api.store import JobStore
from storyforge.errors import StoryforgeError


def _number(name: str, default: float, kind: type = float) -> float:
    """An environment setting that must be a number (`kind=int`: a whole number); clear error otherwise."""
    value = os.environ.get(name, "").strip()
    try:
        return kind(value) if value else default
    except ValueError as exc:
        what = "a whole number" if kind is int else "a number"
        raise StoryforgeError(f"{name}={value} is not {what}.", f"set {name} to {what}, e.g. {default:g}.") from exc


def _int(name: str, default: int) -> int:
    return int(_number(name, default, int))


def _profiles(value: str) -> list[str]:
    from storyforge.profile import CHOICES

    names = [p.strip() for p in value.split(",") if p.strip()]
    if unknown := [p for p in names if p not in CHOICES or p == "auto"]:
        raise StoryforgeError(f"STORYFORGE_PROFILES names {', '.join(unknown)}, which is not a profile.",
                              "list some of debug_cpu, prod_gpu (comma-separated), or leave it unset.")  # fmt: skip
    return names


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
    rate_per_min: int = 600  # STORYFORGE_RATE_LIMIT: requests per minute per key (0: no limit)
    free_key_tries: int = 5  # STORYFORGE_KEY_TRIES: wrong keys per client address before each one doubles the wait
    min_free_mb: int = 256  # STORYFORGE_MIN_FREE_MB: below this free disk the server is not ready and refuses jobs
    retention_days: float = 0.0  # STORYFORGE_RETENTION_DAYS: ended jobs and their files are deleted after (0: kept)
    profiles: list[str] = field(default_factory=list)  # STORYFORGE_PROFILES: profiles clients may ask for (default: found)

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
            rate_per_min=_int("STORYFORGE_RATE_LIMIT", 600),
            free_key_tries=_int("STORYFORGE_KEY_TRIES", 5),
            min_free_mb=_int("STORYFORGE_MIN_FREE_MB", 256),
            retention_days=_number("STORYFORGE_RETENTION_DAYS", 0.0),
            profiles=_profiles(os.environ.get("STORYFORGE_PROFILES", "")),
        )

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"


def owner_of(key: str) -> str:
    """Who owns a job: a hash of the key (the key itself is never stored)."""
    return hashlib.sha256(key.encode()).hexdigest()[:24]


OTHER_SCHEME = re.compile(r"(?i)^(basic|digest|negotiate|ntlm|hoba|mutual|aws4-hmac-sha256) [\w+/=.~-]+$")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key from STORYFORGE_API_KEYS")
_bearer = HTTPBearer(auto_error=False, description="The same key as a bearer token")


def require_key(
    request: Request,
    _documented: str | None = Depends(_header),  # the schemes, for the OpenAPI schema; the headers are read below
    _bearer_documented: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> str:
    """The caller's owner id; 401 without a valid key, 429 while this address waits after wrong keys or the key is
    over its rate. Keys are compared in constant time."""
    settings: Settings = request.app.state.settings
    if settings.insecure_dev and not settings.api_keys:
        owner = owner_of("insecure-dev")
    else:
        address = request.client.host if request.client else "unknown"
        backoff: Backoff = request.app.state.backoff
        if wait := backoff.wait_s(address):
            raise too_many("too many wrong API keys from this address; wait before trying again.", wait)
        # every key sent counts, even an empty or malformed one: a wrong key beside a right one is wrong. Only an
        # Authorization header of another well-known scheme (Basic from a proxy in front, say) is not a key.
        sent = list(request.headers.getlist("x-api-key"))  # every copy of a header counts
        for authorization in request.headers.getlist("authorization"):
            if OTHER_SCHEME.match(authorization):
                continue
            scheme, _, credentials = authorization.strip().partition(" ")
            sent.append(credentials.strip() if scheme.lower() == "bearer" else authorization)
        given = sent[0] if sent else ""
        valid = (
            bool(sent)
            and len(set(sent)) == 1
            and any(hmac.compare_digest(given.encode(), key.encode()) for key in settings.api_keys)
        )
        if not valid:
            known = {k for k in sent if any(hmac.compare_digest(k.encode(), key.encode()) for key in settings.api_keys)}
            if any(k and k not in known for k in sent):  # a missing or empty key is a client not set up, not a guess
                backoff.failed(address)
            raise HTTPException(401, "a valid API key is required (X-API-Key or Authorization: Bearer).",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        owner = owner_of(given)
    if wait := request.app.state.rate.take(owner):
        raise too_many(f"this key is over {settings.rate_per_min} requests a minute; slow down.", wait)
    return owner


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings
