"""`audio/music=synth`: a licence-free music bed synthesised with numpy: soft pad chords in a progression
chosen by mood, in a key chosen by seed. Each chord fades in and out inside its bar, so the loop point is
seamless. Made once and cached like any other artifact."""

from __future__ import annotations

from pathlib import Path

import anyio
import numpy as np

from storyforge.engine.contract import Service
from storyforge.media import write_wav
from storyforge.models import ModelProvider

# semitone offsets of chord roots from the key, and whether each chord is minor
PROGRESSIONS = {
    "calm": [(0, False), (7, False), (9, True), (5, False)],  # I V vi IV
    "joyful": [(0, False), (5, False), (7, False), (5, False)],  # I IV V IV
    "tense": [(0, True), (8, False), (3, False), (10, False)],  # i VI III VII
    "wistful": [(9, True), (5, False), (0, False), (7, False)],  # vi IV I V
}


class SynthMusic(Service):
    provider = ModelProvider.procedural

    class Params(Service.Params):
        sample_rate: int = 44100  # Hz
        bar_s: float = 3.0  # seconds per chord
        bars: int = 8  # chords per loop (the progression repeats)
        gain: float = 0.25  # peak level of the bed before mixing

    async def compose(self, mood: str, seed: int, out: Path) -> Path:
        return await anyio.to_thread.run_sync(self._make, mood, seed, out, limiter=self.limiter)

    def _make(self, mood: str, seed: int, out: Path) -> Path:
        p = self.params
        key = 48 + seed % 12  # MIDI note of the key's root, one octave below middle C
        progression = PROGRESSIONS.get(mood, PROGRESSIONS["calm"])
        n = int(p.bar_s * p.sample_rate)
        t = np.arange(n) / p.sample_rate
        fade = np.minimum(1.0, np.minimum(t, p.bar_s - t) / 0.6)  # 0.6 s in and out inside each bar
        bars = []
        for i in range(p.bars):
            root, minor = progression[i % len(progression)]
            notes = [key + root, key + root + (3 if minor else 4), key + root + 7, key + root + 12]
            chord = sum(np.sin(2 * np.pi * 440 * 2 ** ((m - 69) / 12) * t) for m in notes) / len(notes)
            bars.append(chord * fade)
        mono = np.concatenate(bars)
        mono = p.gain * mono / max(1e-9, np.abs(mono).max())
        stereo = np.stack([mono, np.roll(mono, int(0.012 * p.sample_rate))], axis=1)  # a little width
        return write_wav(out, stereo, p.sample_rate)
