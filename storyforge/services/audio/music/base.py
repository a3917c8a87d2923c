"""What the model-backed music backends share (MusicGen, ACE-Step): a text prompt from the scene's mood, a bed of
`bed_s` made in a worker thread under the service's limiter, checked for non-finite samples and brought to one
peak level before it is written. A backend implements `_bed(prompt, seed) -> (samples, channels), rate`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import anyio
import numpy as np

from storyforge.engine.contract import Service, knob
from storyforge.errors import StoryforgeError
from storyforge.media import write_wav
from storyforge.services.torch_runtime import free_memory


class MoodMusic(Service, ABC):
    class Params(Service.Params):
        prompt: str = "{style}, instrumental underscore for a told story, no vocals"  # {style}: from `styles`
        styles: dict[str, str] = {
            "calm": "calm, soft piano and warm strings, slow",
            "tense": "tense, low strings and a slow pulse, dark",
            "joyful": "joyful, bright acoustic guitar and light percussion",
            "wistful": "wistful, solo piano with gentle pads",
        }
        bed_s: float = 30.0  # length of the bed; the compositor loops it under longer videos
        peak: float = 0.5  # peak level of the bed before mixing
        threads: int | None = knob(None, "torch CPU threads; None: all cores")

    dtype_fix = "try audio.music.dtype=float32."  # what to do about non-finite audio

    def models(self) -> list[str]:
        return [self.params.model]

    def prompt_for(self, mood: str) -> str:
        return self.params.prompt.format(style=self.params.styles.get(mood, mood))

    async def compose(self, mood: str, seed: int, out: Path) -> Path:
        return await anyio.to_thread.run_sync(self._make, mood, seed, out, limiter=self.limiter)

    def _make(self, mood: str, seed: int, out: Path) -> Path:
        self.warm_up()
        bed, rate = self._bed(self.prompt_for(mood), seed)
        bed = bed[: int(self.params.bed_s * rate)]
        if not np.isfinite(bed).all():
            raise StoryforgeError(f"{type(self).__name__} produced non-finite audio.", self.dtype_fix)
        bed = self.params.peak * bed / max(1e-6, float(np.abs(bed).max()))
        return write_wav(out, bed, rate)

    @abstractmethod
    def _bed(self, prompt: str, seed: int) -> tuple[np.ndarray, int]:
        """At least `bed_s` of music for `prompt` as (samples, channels), and its sample rate."""

    def close(self) -> None:
        free_memory()
