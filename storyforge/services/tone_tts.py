"""`audio/tts=tone`: a placeholder voice. One soft beep per word at reading speed, so the clip's length
follows the text the way speech would, and you can hear narration line up with its shot. No weights."""

from __future__ import annotations

from pathlib import Path

import anyio
import numpy as np

from storyforge import text as tx
from storyforge.engine.contract import Service, knob
from storyforge.media import write_wav
from storyforge.models import ModelProvider


class ToneTTS(Service):
    provider = ModelProvider.procedural

    class Params(Service.Params):
        max_concurrency: int = knob(2, "Clips made at once")
        words_per_minute: float = 170.0  # reading speed the clip length follows
        sample_rate: int = 24000  # Hz
        frequency: float = 220.0  # Hz of the beep
        amplitude: float = 0.08  # 0 gives silence of the same length

    async def speak(self, text: str, language: str, seed: int, out: Path) -> Path:
        return await anyio.to_thread.run_sync(self._make, text, out, limiter=self.limiter)

    def _make(self, text: str, out: Path) -> Path:
        p = self.params
        n_words = max(1, len(tx.words(text)))
        slot = int(p.sample_rate * 60 / p.words_per_minute)
        beep = int(slot * 0.6)
        t = np.arange(beep) / p.sample_rate
        envelope = np.sin(np.pi * np.arange(beep) / beep) ** 2  # no clicks at either end
        word = np.zeros(slot)
        word[:beep] = p.amplitude * envelope * np.sin(2 * np.pi * p.frequency * t)
        return write_wav(out, np.tile(word, n_words), p.sample_rate)
