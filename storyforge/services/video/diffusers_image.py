"""`video=diffusers_image` (SDXL), `video=diffusers_sd15`, `video=diffusers_flux`: text-to-image keyframes
through diffusers (`AutoPipelineForText2Image`). Steps, guidance, size, scheduler and dtype come from config,
the seed from the stage (per shot, or per character).

Continuity (`continuity=last_frame|keyframe` in the recipe): the stage gives each shot the previous shot's
picture in the same scene, and the keyframe is drawn from it with the image-to-image pipeline made from the
same weights (`AutoPipelineForImage2Image.from_pipe`, no second load) at `continuity_strength`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from storyforge.models import Character, Shot
from storyforge.services.video.diffusers_base import DiffusersBackend, call_args, frame_of, snap


class DiffusersImage(DiffusersBackend):
    class Params(DiffusersBackend.Params):
        model: str = "stabilityai/stable-diffusion-xl-base-1.0"  # folder or hub id (HF cache only)
        width: int = 1344  # keyframe size (snapped to a multiple of 16); the compositor scales to the frame
        height: int = 768
        continuity_strength: float = 0.6  # how far a continued keyframe may move from the previous picture

    async def render(
        self, shot: Shot, scene_index: int, prompt: str, seed: int, out: Path, previous: Path | None = None,
        continuity: str = "none",
        cast: Sequence[Character] = (),
    ) -> Path:  # fmt: skip
        return await anyio.to_thread.run_sync(self._render, shot, prompt, seed, out, previous, limiter=self.limiter)

    def _render(self, shot: Shot, prompt: str, seed: int, out: Path, previous: Path | None) -> Path:
        init = None
        if previous is not None:
            from PIL import Image

            is_clip = previous.suffix == ".mp4"
            init = (
                frame_of(previous, last=True, out=out.with_name("previous.png"))
                if is_clip
                else Image.open(previous).convert("RGB")
            )
        image = self.keyframe(self.params.model, prompt, seed, (self.params.width, self.params.height), init, shot.id)
        out = out.with_suffix(".png")
        image.save(out)
        return out

    def keyframe(
        self, model: str, prompt: str, seed: int, size: tuple[int, int], init: Any = None, what: str = "",
        steps: int | None = None, guidance: float | None = None,
    ) -> Any:  # fmt: skip
        """One picture from `prompt` (from `init` as well, when continuing a scene), as a PIL image."""
        p = self.params
        pipe = self.pipeline(model, "AutoPipelineForText2Image")
        self.park(model)
        if init is not None:
            import diffusers

            pipe = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)

        def draw(wh: tuple[int, int]) -> Any:
            kwargs = call_args(
                pipe, prompt=prompt, negative_prompt=p.negative_prompt or None, width=wh[0], height=wh[1],
                num_inference_steps=steps or p.steps, guidance_scale=p.guidance if guidance is None else guidance,
                generator=self.generator(seed), image=init.resize(wh) if init is not None else None, strength=p.continuity_strength if init is not None else None,
            )  # fmt: skip
            return pipe(**kwargs).images[0]

        return self.retry_smaller(f"keyframe {what}", (snap(size[0], 16), snap(size[1], 16)), draw, 16)
