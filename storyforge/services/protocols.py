"""The small protocols stages use to talk to services. A backend is any class with these methods plus the
`Service` basics (`limiter`, `fingerprint()`, `warm_up()`, `close()`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
from pydantic import BaseModel

from storyforge.models import Character, NarrationClip, Piece, Shot, Timeline, VoiceType, WordTiming

T = TypeVar("T", bound=BaseModel)


class LLMService(Protocol):
    limiter: anyio.CapacityLimiter

    async def generate(self, task: str, prompt: str, schema: type[T], context: dict[str, Any], shape: dict | None = None) -> T:
        """Answer `prompt` with an instance of `schema`. `task` and `context` carry the same request as data,
        for backends (like the rule-based planner) that work from structure rather than text."""


class VideoService(Protocol):
    conditions_on_cast: bool  # True when render() draws from `references` (a new portrait then redraws the shot)

    async def render(
        self, shot: Shot, scene_index: int, prompt: str, seed: int, out: Path, previous: Path | None = None,
        continuity: str = "none",
        cast: Sequence[Character] = (),
        references: Mapping[str, Path] | None = None,
    ) -> Path:  # fmt: skip
        """Draw one shot (a still or a clip) to `out` with the suffix it chooses; return the file's path.
        `previous` is the picture of the shot before it in the scene when the recipe asks for `continuity`; `cast`
        the characters it shows, as the story's cast describes them; `references` their cast-sheet pictures by name."""

    async def portrait(self, character: Character, prompt: str, seed: int, out: Path, view: str = "front") -> Path:
        """Draw one character's reference picture (`view`: front | full_body) to `out` with the suffix it chooses."""

    async def embed(self, images: Sequence[Path]) -> list[list[float]] | None:
        """An image embedding per picture (a still, or a clip's first frame) for identity figures; None when the
        backend has no image encoder."""


class TTSService(Protocol):
    multi_voice: bool  # whether quoted dialogue can have voices of its own
    name: str  # the backend that really speaks (a stand-in's name when one is used)

    async def speak(
        self, text: str, language: str, seed: int, out: Path, voice: VoiceType = VoiceType.narrator, slot: int = 0
    ) -> Path:
        """Speak `text` into a WAV file at `out` (narrator, or dialogue voice number `slot`); return its path."""

    async def speak_timed(
        self, text: str, language: str, seed: int, out: Path, voice: VoiceType = VoiceType.narrator, slot: int = 0
    ) -> tuple[Path, list[WordTiming] | None]:
        """`speak`, and when each whitespace-separated word of `text` is heard where the backend can tell (else
        None)."""

    def dialogue_voices_for(self, language: str | None = None) -> list[str]:
        """The voices quoted dialogue is given in `language` (None: in every language)."""

    def voice_for(self, language: str, kind: VoiceType = VoiceType.narrator, slot: int = 0) -> str:
        """The backend's name for the voice that speaks such a line."""


class MusicService(Protocol):
    async def compose(self, mood: str, seed: int, out: Path) -> Path:
        """Make a loopable music bed into a WAV file at `out`; return its path."""


class Compositor(Protocol):
    """Makes the film from pieces (storyforge/timeline.py `plan_pieces`), a sound mix and a join."""

    async def render_segment(self, piece: Piece, out: Path, log_dir: Path | None = None) -> Path:
        """Render one piece into the MP4 `out`: video only, exactly `piece.frames` frames, encoded so that
        segments join by stream copy. Failure logs go into `log_dir`."""

    async def mix(
        self, timeline: Timeline, narration: dict[str, NarrationClip], music: Path | None, loopable: bool, out: Path,
        stem: Path | None = None, graph_file: Path | None = None, log_dir: Path | None = None,
    ) -> tuple[float, float]:  # fmt: skip
        """The film's sound into `out` (at the loudness target, ready to mux by stream copy); with music, also
        the music stem into `stem` (left: as mixed, right: not ducked) for the measured ducking depth
        (storyforge/quality.py). Returns the integrated loudness before the gain and as delivered."""

    async def assemble(
        self, segments: list[Path], audio: Path, subtitles: Path | None, duration_s: float, out: Path,
        log_dir: Path | None = None,
    ) -> float:  # fmt: skip
        """Join the segments in order with the sound and a soft subtitle track into the MP4 `out`; return its
        measured duration."""
