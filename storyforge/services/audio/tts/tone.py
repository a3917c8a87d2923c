"""`audio/tts=tone`: a placeholder voice. One soft beep per word at reading speed, with a pause after a
comma (half a word) and a sentence end (a word), so the clip's length and rhythm follow the text the way
speech would, and you can hear narration line up with its shot. A voice is the beep's
pitch in Hz: quoted dialogue beeps higher, one pitch per speaker. No weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import regex as re

from storyforge.engine.contract import knob
from storyforge.media import write_wav
from storyforge.models import ModelProvider, WordTiming
from storyforge.services.audio.tts.base import TTSBackend


class ToneTTS(TTSBackend):
    provider = ModelProvider.procedural

    class Params(TTSBackend.Params):
        max_concurrency: int = knob(2, "Clips made at once")
        voice: str | None = "220"  # Hz of the narrator's beep
        dialogue_voices: list[str] = ["294", "349", "392"]  # Hz of the speakers' beeps
        words_per_minute: float = 170.0  # reading speed the clip length follows
        sample_rate: int = 24000  # Hz
        amplitude: float = 0.08  # 0 gives silence of the same length

    def fingerprint(self) -> dict:
        return super().fingerprint() | {"word_timings": True}  # clips now carry them: not served from older caches

    def _speak(self, text: str, language: str, voice: str, out: Path) -> Path:
        return self._speak_timed(text, language, voice, out)[0]

    def _speak_timed(self, text: str, language: str, voice: str, out: Path) -> tuple[Path, list[WordTiming]]:
        """The beeps, and each whitespace-separated word's time: from its first beep's start to its last beep's
        end (a word without letters, like a dash, takes no time where it stands)."""
        p = self.params
        slot = int(p.sample_rate * 60 / p.words_per_minute)
        beep = int(slot * 0.6)
        t = np.arange(beep) / p.sample_rate
        envelope = np.sin(np.pi * np.arange(beep) / beep) ** 2  # no clicks at either end
        word = np.zeros(slot)
        word[:beep] = p.amplitude * envelope * np.sin(2 * np.pi * float(voice) * t)
        parts, beeps, t = [], [], 0  # beeps: (where in the text, start sample)
        for m in _WORD_AND_STOP.finditer(text):
            parts.append(word)
            beeps.append((m.start(), t))
            t += slot
            stop = m.group(1).strip()
            if stop:
                parts.append(np.zeros(slot if stop[0] in ".!?…।॥" else slot // 2))
                t += len(parts[-1])
        path = write_wav(out, np.concatenate(parts or [word]), p.sample_rate)
        timings, k, at = [], 0, 0
        for token in re.finditer(r"\S+", text):
            mine = []
            while k < len(beeps) and beeps[k][0] < token.end():
                mine.append(beeps[k][1])
                k += 1
            start, end = (mine[0], mine[-1] + beep) if mine else (at, at)
            timings.append(
                WordTiming(word=token.group(), start_s=round(start / p.sample_rate, 4), end_s=round(end / p.sample_rate, 4))
            )
            at = end
        return path, timings


_WORD_AND_STOP = re.compile(r"\w+(?:['’]\w+)*[\"”’»)]*(\s*[.!?…।॥,;:]?)")
