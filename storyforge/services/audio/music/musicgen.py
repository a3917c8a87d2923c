"""`audio/music=musicgen`: MusicGen through transformers (`MusicgenForConditionalGeneration`). audiocraft pins
torch 2.1 and cannot be installed beside this project's torch; transformers runs the same weights.

`model` is a local folder (`save_pretrained` layout) or a hub id already in the Hugging Face cache: nothing is
fetched at run time (`local_files_only`). The text prompt is built from the mood. A bed longer than one
`chunk_s` generation continues from the last `overlap_s` of audio (MusicGen's audio prompt), so it stays one
piece of music; the compositor loops it seamlessly when the video is longer and resamples it for the mix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import numpy as np

from storyforge.engine.contract import Service, knob
from storyforge.errors import StoryforgeError
from storyforge.media import write_wav
from storyforge.models import ModelProvider
from storyforge.services.torch_runtime import free_memory, load_torch


class MusicGen(Service):
    provider = ModelProvider.transformers

    class Params(Service.Params):
        model: str = "facebook/musicgen-small"  # local folder, or a hub id already in the HF cache
        device: str = "cpu"  # cpu | cuda | mps
        dtype: str = "float32"  # float32 | float16 | bfloat16
        prompt: str = "{style}, instrumental underscore for a told story, no vocals"  # {style}: from `styles`
        styles: dict[str, str] = {
            "calm": "calm, soft piano and warm strings, slow",
            "tense": "tense, low strings and a slow pulse, dark",
            "joyful": "joyful, bright acoustic guitar and light percussion",
            "wistful": "wistful, solo piano with gentle pads",
        }
        bed_s: float = 30.0  # length of the bed; the compositor loops it under longer videos
        chunk_s: float = 15.0  # seconds per generate call (MusicGen was trained on 30 s)
        overlap_s: float = 3.0  # audio each continuation is conditioned on
        guidance_scale: float = 3.0  # classifier-free guidance, as MusicGen recommends
        temperature: float = 1.0
        top_k: int = 250
        peak: float = 0.5  # peak level of the bed before mixing
        threads: int | None = knob(None, "torch CPU threads; None: all cores")

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
        free_memory()

    async def compose(self, mood: str, seed: int, out: Path) -> Path:
        return await anyio.to_thread.run_sync(self._make, mood, seed, out, limiter=self.limiter)

    def prompt_for(self, mood: str) -> str:
        return self.params.prompt.format(style=self.params.styles.get(mood, mood))

    def _make(self, mood: str, seed: int, out: Path) -> Path:
        import torch

        self.warm_up()
        p = self.params
        torch.manual_seed(seed)
        rate = self._model.config.audio_encoder.sampling_rate
        text = self.prompt_for(mood)
        bed = self._generate(text, None, min(p.chunk_s, p.bed_s))
        while bed.shape[0] < p.bed_s * rate:
            tail = bed[-int(p.overlap_s * rate) :]
            more = self._generate(text, tail, min(p.chunk_s, p.bed_s - bed.shape[0] / rate + p.overlap_s))
            bed = np.concatenate([bed, more[len(tail) :]])  # the answer starts with the prompt audio
        bed = bed[: int(p.bed_s * rate)]
        if not np.isfinite(bed).all():
            raise StoryforgeError("MusicGen produced non-finite audio.", "try audio.music.dtype=float32.")
        bed = p.peak * bed / max(1e-6, float(np.abs(bed).max()))
        return write_wav(out, bed, rate)

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
