"""What every TTS backend shares: which voice speaks (the narrator's, or one per character for quoted
dialogue), and what happens when the backend cannot run on this machine (`fallback`).

A backend implements `_speak(text, language, voice, out)` (run in a worker thread under the service's limiter)
and `default_voice(language)`; it may implement `unavailable()` to say what is missing and how to install it.
With `fallback: tone` a missing backend is replaced by the placeholder voice, with a warning, and the
fingerprint changes with it, so placeholder clips are never served from the cache as real speech.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Literal

import anyio

from storyforge.engine.contract import Service
from storyforge.errors import StoryforgeError
from storyforge.models import VoiceType, WordTiming

log = logging.getLogger("storyforge")


class TTSBackend(Service, ABC):
    class Params(Service.Params):
        voice: str | None = None  # narrator voice; None: the backend's default for the story's language
        dialogue_voices: list[str] = []  # voices for quoted speech, one per speaker; empty: the narrator reads it
        fallback: Literal["error", "tone"] = "error"  # when the backend cannot run here: stop, or use `tone`

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._stand_in: Service | None = None
        self._checked = False

    def default_voice(self, language: str) -> str:
        return "default"

    @property
    def multi_voice(self) -> bool:
        """Whether quoted dialogue gets voices of its own (some `dialogue_voices` are set)."""
        return bool(self.params.dialogue_voices)

    def dialogue_voices_for(self, language: str | None = None) -> list[str]:
        """The voices quoted dialogue is given in `language` (a character's chosen voice must be one of them);
        None: those of every language."""
        return list(self.params.dialogue_voices)

    def licences(self, service: str) -> list:
        """The real backend's model licences, or none when the placeholder voice stands in for it."""
        if self.params.fallback == "tone" and self._fallback() is not None:  # never raises with fallback: tone
            return []
        return super().licences(service)

    def unavailable(self) -> StoryforgeError | None:
        """Why this backend cannot run here (with the fix), or None."""
        return None

    def voice_for(self, language: str, kind: VoiceType = VoiceType.narrator, slot: int = 0) -> str:
        """The voice for a line: the narrator's, or dialogue voice number `slot` (the speaker's place in the
        cast, so the first characters all sound different and each keeps its voice across shots)."""
        voices = self.dialogue_voices_for(language)
        if kind == VoiceType.dialogue and voices:
            return voices[slot % len(voices)]
        return self.params.voice or self.default_voice(language)

    def fingerprint(self) -> dict:
        stand_in = self._fallback()
        return stand_in.fingerprint() | {"stands_in_for": super().fingerprint()} if stand_in else super().fingerprint()

    @property
    def name(self) -> str:
        return "tone (stand-in)" if self._fallback() else type(self).__name__

    async def speak(
        self, text: str, language: str, seed: int, out: Path, voice: VoiceType = VoiceType.narrator, slot: int = 0
    ) -> Path:
        """Speak `text` into a WAV file at `out`; return its path."""
        return (await self.speak_timed(text, language, seed, out, voice, slot))[0]

    async def speak_timed(
        self, text: str, language: str, seed: int, out: Path, voice: VoiceType = VoiceType.narrator, slot: int = 0
    ) -> tuple[Path, list[WordTiming] | None]:
        """Speak `text` into a WAV file at `out`: its path, and when each word is heard (one timing per
        whitespace-separated word of `text`, in order) where the backend can tell, else None."""
        if stand_in := self._fallback():
            return await stand_in.speak_timed(text, language, seed, out, voice, slot)
        name = self.voice_for(language, voice, slot)
        return await anyio.to_thread.run_sync(self._speak_timed, text, language, name, out, limiter=self.limiter)

    @abstractmethod
    def _speak(self, text: str, language: str, voice: str, out: Path) -> Path:
        """Speak `text` in `voice` into a WAV at `out` (runs in a worker thread); return its path."""

    def _speak_timed(self, text: str, language: str, voice: str, out: Path) -> tuple[Path, list[WordTiming] | None]:
        """`_speak`, with word timings where the backend has them (override it to give them)."""
        return self._speak(text, language, voice, out), None

    def _fallback(self) -> Service | None:
        """The placeholder voice standing in for this backend, or None when it runs (or must not be replaced)."""
        if not self._checked:
            if problem := self.unavailable():
                if self.params.fallback == "error":
                    raise problem
                from storyforge.services.audio.tts.tone import ToneTTS

                log.warning("%s Using the placeholder voice (audio/tts=tone) instead. Fix: %s", problem.problem, problem.fix)
                self._stand_in = ToneTTS()
            self._checked = True
        return self._stand_in
