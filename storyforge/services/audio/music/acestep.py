"""`audio/music=acestep`: ACE-Step 1.5 through diffusers (`AceStepPipeline`), the permissive score: ACE-Step
1.5 is MIT licensed, so a video scored with it may be published commercially (MusicGen's weights are
CC-BY-NC). The turbo checkpoint is guidance-distilled and needs 8 steps for a bed.

`model` is a local folder (`save_pretrained` layout) or a hub id already in the Hugging Face cache: nothing is
fetched at run time (`local_files_only`). The caption is built from the mood; the lyrics are ACE-Step's
instrumental marker, so no voice sings over the narration. One call makes the whole bed (the model writes
10 s to 10 min pieces); the compositor loops it seamlessly when the video is longer and resamples it for the mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from storyforge.engine.contract import knob
from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.audio.music.base import MoodMusic
from storyforge.services.torch_runtime import BUILDING, load_torch

DEFAULT_MODEL = "ACE-Step/acestep-v15-xl-turbo-diffusers"


class AceStep(MoodMusic):
    provider = ModelProvider.diffusers

    class Params(MoodMusic.Params):
        model: str = DEFAULT_MODEL  # local folder, or a hub id already in the HF cache
        device: str = "cpu"  # cpu | cuda | mps
        dtype: str = "float32"  # float32 | bfloat16 (float16, the GPU profile's, is taken as bfloat16: ACE-Step's
        # weights and its authors' examples are bfloat16, and its own code warns against float16)
        lyrics: str = "[Instrumental]"  # ACE-Step's marker for music without a voice
        vocal_language: str = "unknown"  # what ACE-Step's own UI sends with instrumental pieces
        num_inference_steps: int = 8  # the turbo checkpoints are distilled for 8; base/sft want 30-60
        guidance_scale: float = 1.0  # turbo has guidance distilled in (the pipeline ignores more); base/sft: 7.0
        shift: float = 3.0  # timestep-schedule shift (1, 2 or 3), the pipeline's default
        cpu_offload: bool = knob(False, "enable_model_cpu_offload (CUDA): less VRAM, slower")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pipe = None

    def warm_up(self) -> None:
        if self._pipe is not None:
            return
        p = self.params
        torch = load_torch("audio/music=acestep", "gpu", p.threads)
        try:
            from diffusers import AceStepPipeline
        except ImportError as exc:
            raise StoryforgeError(
                "audio/music=acestep needs a diffusers release with AceStepPipeline.",
                "pip install -U 'storyforge[gpu]' diffusers.",
            ) from exc
        try:
            with BUILDING:
                dtype = getattr(torch, "bfloat16" if p.dtype == "float16" else p.dtype)
                pipe = AceStepPipeline.from_pretrained(p.model, local_files_only=True, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise StoryforgeError(
                f"audio.music.model={p.model} is not a local ACE-Step 1.5 diffusers folder or in the Hugging Face "
                f"cache ({str(exc)[:160]}).",
                f"download it where the machine can reach the hub (huggingface-cli download {DEFAULT_MODEL}) and set "
                "audio.music.model=<folder> (or STORYFORGE_ACESTEP_PATH) or HF_HOME.",
            ) from exc
        if p.cpu_offload and p.device != "cpu":
            pipe.enable_model_cpu_offload(device=p.device)
        else:
            pipe = pipe.to(p.device)
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe

    dtype_fix = "try audio.music.dtype=float32 (or bfloat16 on CUDA, not float16)."

    def close(self) -> None:
        self._pipe = None
        super().close()

    def _bed(self, prompt: str, seed: int) -> tuple[np.ndarray, int]:
        import torch

        p, pipe = self.params, self._pipe
        with torch.inference_mode():
            audio = pipe(
                prompt=prompt, lyrics=p.lyrics, vocal_language=p.vocal_language, audio_duration=p.bed_s,
                num_inference_steps=p.num_inference_steps, guidance_scale=p.guidance_scale, shift=p.shift,
                generator=torch.Generator("cpu").manual_seed(seed), output_type="np",
            ).audios  # fmt: skip
        return audio[0].T, pipe.sample_rate  # (channels, samples) -> (samples, channels), latent frames rounded up
