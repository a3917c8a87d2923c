"""Admission: what a request must pass before it costs the server anything, cheapest check first.

1. The key (storyforge/api/dependencies.py), after the client address's back-off for failed keys: a few free
   tries, then each wrong key doubles the wait (429 with Retry-After) and nothing is compared meanwhile.
2. The key's request rate (a token bucket per key).
3. Queue limits, then the size of the body (routes, storyforge/api/main.py).
4. The story itself: not blank, text (no NUL bytes, not mostly control characters), some words.
5. The profile and backends asked for, against what this server can run.
Only then is the job's config composed (cached per set of overrides: the same options cost it once).

The back-off and the rate are counted per server process: with `--workers N` a client gets up to N times as many
tries before waiting (README, Service).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import shutil
import threading
import time
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from storyforge.api.public import redact_paths
from storyforge.errors import StoryforgeError
from storyforge.text import words

if TYPE_CHECKING:
    from storyforge.api.dependencies import Settings

log = logging.getLogger("storyforge")


def too_many(message: str, wait_s: float) -> HTTPException:
    return HTTPException(429, message, headers={"Retry-After": str(max(1, math.ceil(wait_s)))})


@dataclass
class Backoff:
    """Wrong keys per client address (IPv6 by its /64): `free` of them within `window_s` cost nothing; each further
    one doubles the wait before the address's next key is looked at (1, 2, 4 … s, at most `max_s`). Only failures
    inside the window count, so a misconfigured client retrying now and then never locks its address out.

    While an address waits, a right key from it waits too: answering it would tell a guesser which key was right.
    Behind NAT, raise STORYFORGE_KEY_TRIES."""

    free: int = 5
    max_s: float = 300.0
    window_s: float = 600.0
    limit: int = 100_000  # addresses remembered; the quietest are forgotten first
    _seen: dict[str, deque[float]] = field(default_factory=dict)  # address -> times of its recent failures
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def group(address: str) -> str:
        """The unit a client controls: an IPv4 address, or an IPv6 /64."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)

    def wait_s(self, address: str) -> float:
        """Seconds this address must wait before its next key is looked at (0: go ahead)."""
        with self._lock:
            failures = self._recent(self.group(address))
            return max(0.0, failures[-1] + self._penalty(len(failures)) - time.monotonic()) if failures else 0.0

    def failed(self, address: str) -> float:
        """Count a wrong key; returns the wait it earns."""
        key = self.group(address)
        with self._lock:
            failures = self._recent(key)
            failures.append(time.monotonic())
            self._seen[key] = failures
            if len(self._seen) > self.limit:  # bounded memory under a flood from many addresses
                for quiet in sorted(self._seen, key=lambda k: self._seen[k][-1])[: self.limit // 10]:
                    del self._seen[quiet]
            return self._penalty(len(failures))

    def _recent(self, key: str) -> deque[float]:
        failures = self._seen.get(key, deque())
        while failures and time.monotonic() - failures[0] > self.window_s:
            failures.popleft()
        if not failures:
            self._seen.pop(key, None)
        return failures

    def _penalty(self, failures: int) -> float:
        return 0.0 if failures < self.free else min(self.max_s, 2.0 ** (failures - self.free))


@dataclass
class RateLimit:
    """Requests per minute per key, with bursts of up to half a minute's worth (a token bucket)."""

    per_minute: int = 600
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # owner -> (tokens, when)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, owner: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        rate, capacity = self.per_minute / 60.0, max(10.0, self.per_minute / 2.0)
        with self._lock:
            tokens, when = self._buckets.get(owner, (capacity, time.monotonic()))
            now = time.monotonic()
            tokens = min(capacity, tokens + (now - when) * rate)
            if tokens < 1.0:
                self._buckets[owner] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[owner] = (tokens - 1.0, now)
            return 0.0


def invalid(field_name: str, message: str) -> RequestValidationError:
    """A 422 in the same shape as every other validation error: where (`options.voice`), and what to do."""
    return RequestValidationError([{"loc": ("body", *field_name.split(".")), "msg": message, "type": "value_error"}])


def check_story(story: str, field_name: str = "story") -> None:
    """422 for a story the pipeline could not read: blank, binary, or without a single word."""
    if "\x00" in story:
        raise invalid(field_name, "the story contains NUL bytes, so it is not text (a binary file?); send UTF-8 text.")
    if not story.strip():
        raise invalid(field_name, "the story is blank; send the text of a story.")
    sample = story[:100_000]
    control = sum(1 for c in sample if unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v")
    if control > max(10, len(sample) // 100):
        raise invalid(field_name, f"the story has {control} control characters, so it is not text; send UTF-8 text.")
    if not words(sample):
        raise invalid(field_name, "the story has no words; send the text of a story.")


class Capabilities:
    """What this server can run: the profiles and voices a client may ask for. Each is found the first time a
    client asks (a profile other than auto: GPU detection; a voice: its backend's own `unavailable()` check) and
    then answered from memory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._profiles: list[str] | None = None
        self._voices: dict[str, str | None] = {}  # voice -> None when it runs here, else why not
        self._backends: dict[str, Any] = {}  # voice -> its backend, built once to ask which languages it speaks

    def pinned(self, group: str) -> str | None:
        """The value the operator's STORYFORGE_SERVER_OVERRIDES force for a config group (client choices lose)."""
        found = [o.split("=", 1)[1] for o in self.settings.overrides if o.split("=", 1)[0].lstrip("+~") == group]
        return found[-1] if found else None

    def profiles(self) -> list[str]:
        with self._lock:
            if self._profiles is None:
                if self.settings.profiles:
                    self._profiles = list(self.settings.profiles)
                elif pinned := self.pinned("profile"):
                    self._profiles = [pinned]
                else:
                    from storyforge.profile import detect_gpu

                    self._profiles = ["debug_cpu", "prod_gpu"] if detect_gpu()[0] else ["debug_cpu"]
            return self._profiles

    def voice_problem(self, voice: str) -> str | None:
        """Why this server cannot speak with `voice`, or None."""
        with self._lock:
            if voice not in self._voices:
                try:
                    self._voices[voice] = self._find_voice_problem(voice)
                except Exception as exc:  # never a reason to refuse: the job itself says what is wrong
                    log.warning("could not tell whether voice=%s runs here (%s); accepting it", voice, exc)
                    self._voices[voice] = None
            return self._voices[voice]

    def _find_voice_problem(self, voice: str) -> str | None:
        from hydra.utils import instantiate

        from storyforge.api.main import resolved_config

        if (pinned := self.pinned("audio/tts")) and pinned != voice:
            return f"this server always uses audio/tts={pinned}"
        config = resolved_config(["profile=debug_cpu", f"audio/tts={voice}", *self.settings.overrides])
        backend = instantiate(config["audio"]["tts"])
        problem = backend.unavailable()
        if problem is None:
            self._backends[voice] = backend
        return redact_paths(problem.problem.rstrip(".")) if problem else None

    def language_problem(self, voice: str, language: str) -> str | None:
        """Why `voice` cannot speak `language` here (no voice model for it), or None."""
        backend = self._backends.get(voice)
        if backend is None:
            return None
        try:
            backend.default_voice(language)
        except StoryforgeError as exc:
            return redact_paths(exc.problem.rstrip("."))
        return None

    @staticmethod
    def voice_names() -> list[str]:
        from storyforge.api.schemas import JobOptions

        return list(get_args(get_args(JobOptions.model_fields["voice"].annotation)[0]))

    def check(self, profile: str, voice: str | None, language: str | None = None) -> None:
        """422 for a profile or voice this server cannot run, or a voice that cannot speak the story's language,
        naming those it can."""
        if profile != "auto" and profile not in (runs := self.profiles()):
            raise invalid("profile", f"this server cannot run profile={profile}; it runs {', '.join(['auto', *runs])}.")
        if voice and (problem := self.voice_problem(voice)):
            can = [v for v in self.voice_names() if v != voice and self.voice_problem(v) is None]
            raise invalid("options.voice", f"this server cannot use voice={voice} ({problem}); it has {', '.join(can)}.")
        if voice and language and (problem := self.language_problem(voice, language)):
            raise invalid("options.voice", f"voice={voice} cannot speak this story's language here ({problem}); "
                                           "choose another voice, or options.language.")  # fmt: skip


def free_mb(path) -> float:
    """Free space on the disk holding `path` (its nearest existing parent), in MiB."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free / 2**20
    return math.inf
