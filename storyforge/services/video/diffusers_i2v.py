"""`video=diffusers_i2v` (LTX-Video), `video=i2v_wan`, `video=i2v_cogvideox`, `video=i2v_svd`: a keyframe per
shot (text-to-image, `keyframe_model`) animated into a clip by an image-to-video pipeline (`model`, loaded with
`DiffusionPipeline`, so the folder's own pipeline class decides the family). Frames, fps, motion strength (SVD's
motion bucket) from config; frame counts snapped to what each family generates (LTX/CogVideoX 8k+1, Wan 4k+1).

Continuity within a scene (the stage then runs a scene's shots in order):
- `last_frame`: shot N+1 is animated from shot N's last frame (no new keyframe), so motion carries across cuts;
- `keyframe`: shot N+1's keyframe is drawn from shot N's first frame (image-to-image), then animated;
- `none`: every shot from its own keyframe.
The keyframe and video pipelines take turns on the GPU (the idle one is parked in CPU memory).

Identity (`identity=ip_adapter`): keyframes and portraits are drawn by the keyframe model with the IP-Adapter
(see diffusers_image.py), and the clip carries the identity from its keyframe. A `last_frame` continuation draws
no keyframe, so it carries the identity of the shot before it instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from storyforge.models import Character, Shot
from storyforge.services.video.diffusers_base import call_args, frame_of, snap, write_clip
from storyforge.services.video.diffusers_image import DiffusersImage

FRAME_STEP = {"LTX": 8, "CogVideoX": 8, "Wan": 4}  # pipeline class prefix -> frames come in step*k + 1


class DiffusersI2V(DiffusersImage):
    class Params(DiffusersImage.Params):
        model: str = "Lightricks/LTX-Video"  # image-to-video pipeline: folder or hub id (HF cache only)
        keyframe_model: str = "stabilityai/stable-diffusion-xl-base-1.0"  # text-to-image for keyframes
        keyframe_steps: int = 30  # text-to-image steps for keyframes
        keyframe_guidance: float = 5.0
        width: int = 768  # clip size (snapped to a multiple of 32); 0: the pipeline's own (CogVideoX)
        height: int = 512
        num_frames: int = 97  # frames per clip (about 4 s at 24 fps)
        fps: int = 24  # clip frame rate
        guidance: float = 3.0
        motion_strength: int = 127  # SVD motion_bucket_id: higher moves more (other families ignore it)

    async def render(
        self, shot: Shot, scene_index: int, prompt: str, seed: int, out: Path, previous: Path | None = None,
        continuity: str = "none",
        cast: Sequence[Character] = (),
        references: Mapping[str, Path] | None = None,
    ) -> Path:  # fmt: skip
        refs = self._references(shot, references, previous is not None, continuity)
        return await anyio.to_thread.run_sync(self._animate, shot, prompt, seed, out, previous, continuity, refs,
                                              limiter=self.limiter)  # fmt: skip

    def drawing_models(self) -> list[str]:
        return [self.params.model, self.params.keyframe_model]

    def continues(self, previous: bool, continuity: str) -> bool:
        """A `last_frame` shot is animated from the previous clip's last frame: no keyframe, no portrait."""
        return previous and continuity == "last_frame"

    @property
    def portrait_model(self) -> str:
        return self.params.keyframe_model

    @property
    def portrait_steps(self) -> tuple[int | None, float | None]:
        return self.params.keyframe_steps, self.params.keyframe_guidance

    def _animate(self, shot: Shot, prompt: str, seed: int, out: Path, previous: Path | None, continuity: str,
                 refs: list[Path]) -> Path:  # fmt: skip
        p = self.params
        size = (snap(p.width, 32), snap(p.height, 32)) if p.width and p.height else None
        if previous is not None and continuity == "last_frame":
            image = frame_of(previous, last=True, out=out.with_name("start.png"))
        else:
            init = frame_of(previous, last=False, out=out.with_name("init.png")) if previous is not None else None
            image = self.keyframe(p.keyframe_model, prompt, seed, size or (768, 512), init, shot.id, p.keyframe_steps,
                                  p.keyframe_guidance, refs)  # fmt: skip
        pipe = self.pipeline(p.model)
        self.park(p.model)
        family = next((f for f in FRAME_STEP if type(pipe).__name__.startswith(f)), "")
        frames = snap(p.num_frames - 1, FRAME_STEP[family]) + 1 if family else p.num_frames

        def animate(wh: tuple[int, int] | None) -> list[Any]:
            start = image.resize(wh) if wh else image
            kwargs = call_args(
                pipe, image=start, prompt=prompt, negative_prompt=p.negative_prompt or None,
                width=wh[0] if wh else None, height=wh[1] if wh else None, num_frames=frames,
                num_inference_steps=p.steps, guidance_scale=p.guidance, generator=self.generator(seed),
                motion_bucket_id=p.motion_strength, fps=p.fps if "StableVideo" in type(pipe).__name__ else None,
                output_type="pil",
            )  # fmt: skip
            return pipe(**kwargs).frames[0]

        clip = self.retry_smaller(f"clip {shot.id}", size, animate, 32) if size else animate(None)
        return write_clip(clip, p.fps, out.with_suffix(".mp4"))
