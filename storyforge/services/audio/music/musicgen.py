"""`audio/music=musicgen`: MusicGen through transformers (`MusicgenForConditionalGeneration`). audiocraft pins
torch 2.1 and cannot be installed beside this project's torch; transformers runs the same weights.

`model` is a local folder (`save_pretrained` layout) or a hub id already in the Hugging Face cache: nothing is
fetched at run time (`local_files_only`). The text prompt is built from the mood. A bed longer than one
`chunk_s` generation continues from the last `overlap_s` of audio (MusicGen's audio prompt), so it stays one
piece of music; the compositor loops it seamlessly when the video is longer and resamples it for the mix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.audio.music.base import MoodMusic
from storyforge.services.torch_runtime import BUILDING, RANDOM, load_torch


class MusicGen(MoodMusic):
    provider = ModelProvider.transformers

    class Params(MoodMusic.Params):
        model: str = "facebook/musicgen-small"  # local folder, or a hub id already in the HF cache
        device: str = "cpu"  # cpu | cuda | mps
        dtype: str = "float32"  # float32 | float16 | bfloat16
        chunk_s: float = 15.0  # seconds per generate call (MusicGen was trained on 30 s)
        overlap_s: float = 3.0  # audio each continuation is conditioned on
        guidance_scale: float = 3.0  # classifier-free guidance, as MusicGen recommends
        temperature: float = 1.0
        top_k: int = 250

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._model = self._processor = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        p = self.params
        torch = load_torch("audio/music=musicgen", "gpu", p.threads)
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        try:
            self._processor = AutoProcessor.from_pretrained(p.model, local_files_only=True)
            with BUILDING:
                model = MusicgenForConditionalGeneration.from_pretrained(
                    p.model, local_files_only=True, dtype=getattr(torch, p.dtype)
                )
        except OSError as exc:
            raise StoryforgeError(
                f"audio.music.model={p.model} is not a local MusicGen folder or in the Hugging Face cache.",
                "download it where the machine can reach one (huggingface-cli download facebook/musicgen-small) and set "
                "audio.music.model=<folder> or HF_HOME.",
            ) from exc
        self._model = model.to(p.device).eval()

    def close(self) -> None:
        self._model = self._processor = None
        super().close()

    def _bed(self, prompt: str, seed: int) -> tuple[np.ndarray, int]:
        import torch

        p = self.params
        rate = self._model.config.audio_encoder.sampling_rate
        with RANDOM:  # sampling draws from torch's global generator: no other thread seeds or draws meanwhile
            torch.manual_seed(seed)
            bed = self._generate(prompt, None, min(p.chunk_s, p.bed_s))
            while bed.shape[0] < p.bed_s * rate:
                tail = bed[-int(p.overlap_s * rate) :]
                more = self._generate(prompt, tail, min(p.chunk_s, p.bed_s - bed.shape[0] / rate + p.overlap_s))
                bed = np.concatenate([bed, more[len(tail) :]])  # the answer starts with the prompt audio
        return bed, rate

    def _generate(self, text: str, tail: np.ndarray | None, seconds: float) -> np.ndarray:
        """(samples, channels) of new music for `text`, continuing `tail` when given (and including it)."""
        import torch

        p, model = self.params, self._model
        kwargs: dict[str, Any] = {"text": [text], "padding": True, "return_tensors": "pt"}
        if tail is not None:
            kwargs |= {
                "audio": [tail.T if tail.shape[1] > 1 else tail[:, 0]],
                "sampling_rate": model.config.audio_encoder.sampling_rate,
            }
        inputs = self._processor(**kwargs).to(p.device)
        if "input_values" in inputs:
            inputs["input_values"] = inputs["input_values"].to(model.dtype)
        frames = int(seconds * model.config.audio_encoder.frame_rate) + model.decoder.num_codebooks - 1
        with torch.inference_mode():
            audio = model.generate(
                **inputs, do_sample=True, guidance_scale=p.guidance_scale, temperature=p.temperature, top_k=p.top_k,
                max_new_tokens=frames,
            )  # fmt: skip
        return audio[0].float().cpu().numpy().T  # (channels, samples) -> (samples, channels)
