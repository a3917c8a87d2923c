"""The small protocols stages use to talk to services. A backend is any class with these methods plus the
`Service` basics (`limiter`, `fingerprint()`, `warm_up()`, `close()`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
from pydantic import BaseModel

from storyforge.models import MusicTrack, NarrationClip, Shot, ShotVisual, Timeline, VoiceType

T = TypeVar("T", bound=BaseModel)


class LLMService(Protocol):
    limiter: anyio.CapacityLimiter

    async def generate(self, task: str, prompt: str, schema: type[T], context: dict[str, Any]) -> T:
        """Answer `prompt` with an instance of `schema`. `task` and `context` carry the same request as data,
        for backends (like the rule-based planner) that work from structure rather than text."""


class VideoService(Protocol):
    async def render(
        self, shot: Shot, scene_index: int, prompt: str, seed: int, out: Path, previous: Path | None = None,
        continuity: str = "none",
    ) -> Path:  # fmt: skip
        """Draw one shot (a still or a clip) to `out` with the suffix it chooses; return the file's path.
        `previous` is the picture of the shot before it in the scene when the recipe asks for `continuity`."""


class TTSService(Protocol):
    multi_voice: bool  # whether quoted dialogue can have voices of its own
    name: str  # the backend that really speaks (a stand-in's name when one is used)

    async def speak(
        self, text: str, language: str, seed: int, out: Path, voice: VoiceType = VoiceType.narrator, slot: int = 0
    ) -> Path:
        """Speak `text` into a WAV file at `out` (narrator, or dialogue voice number `slot`); return its path."""

    def voice_for(self, language: str, kind: VoiceType = VoiceType.narrator, slot: int = 0) -> str:
        """The backend's name for the voice that speaks such a line."""


class MusicService(Protocol):
    async def compose(self, mood: str, seed: int, out: Path) -> Path:
        """Make a loopable music bed into a WAV file at `out`; return its path."""


class Compositor(Protocol):
    async def compose(
        self,
        timeline: Timeline,
        visuals: dict[str, ShotVisual],
        narration: dict[str, NarrationClip],
        music: MusicTrack | None,
        subtitles: Path | None,
        out: Path,
        burn_subtitles: bool = False,
        graph_file: Path | None = None,
        log_dir: Path | None = None,
    ) -> float:
        """Render the timeline into the MP4 `out`; return its measured duration in seconds. Write the filter
        graph (or an equivalent description) to `graph_file` and failure logs into `log_dir`. With music, also
        leave the music stem `ducking.wav` beside `out` (left: as mixed, right: not ducked) for the measured
        ducking depth (storyforge/quality.py)."""
