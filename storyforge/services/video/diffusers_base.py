"""What the diffusers services share: device and dtype from the profile, the CPU thread count, memory options
(model CPU offload, VAE tiling), loading with no hub access, a seeded generator, giving memory back when the
stage group ends, and one retry at a smaller size when CUDA runs out of memory.

Pipeline call arguments are filtered by the pipeline's own signature, so one service drives the whole family
of pipelines a config can name (SD 1.5, SDXL, FLUX; LTX-Video, Wan, CogVideoX, Stable Video Diffusion).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from storyforge.engine import children
from storyforge.engine.contract import Service, knob
from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.ffmpeg import ffmpeg_exe, run_ffmpeg
from storyforge.services.torch_runtime import BUILDING, free_memory, load_torch

log = logging.getLogger("storyforge")
R = TypeVar("R")


def snap(value: int, multiple: int) -> int:
    """`value` rounded down to a multiple (at least one multiple)."""
    return max(multiple, value // multiple * multiple)


def call_args(pipe: Any, **candidates: Any) -> dict[str, Any]:
    """The candidates the pipeline's __call__ accepts (None values dropped)."""
    accepted = inspect.signature(type(pipe).__call__).parameters
    return {k: v for k, v in candidates.items() if k in accepted and v is not None}


def frame_of(clip: Path, last: bool, out: Path):
    """The first or last frame of a video file, as a PIL image."""
    from PIL import Image

    if last:  # every frame of the last half second overwrites `out`: the last one stays
        run_ffmpeg(["-sseof", "-0.5", "-i", str(clip), "-update", "1", str(out)])
    else:
        run_ffmpeg(["-i", str(clip), "-frames:v", "1", "-update", "1", str(out)])
    return Image.open(out).convert("RGB")


def write_clip(frames: list, fps: int, out: Path) -> Path:
    """PIL frames -> an H.264 MP4 (frames padded to even sizes), through ffmpeg's stdin."""
    width, height = frames[0].size
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
           "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(out)]  # fmt: skip
    data = b"".join(f.convert("RGB").tobytes() for f in frames)
    proc = children.run(cmd, input=data)
    if proc.returncode != 0:
        raise StoryforgeError(
            f"ffmpeg could not write a clip: {proc.stderr.decode(errors='replace')[-300:]}", "check the frames."
        )
    return out


class DiffusersBackend(Service):
    provider = ModelProvider.diffusers

    class Params(Service.Params):
        max_concurrency: int = knob(1, "Pipeline calls at once (one device)")
        device: str = "cpu"  # cpu | cuda | mps
        dtype: str = "float32"  # float32 | float16 | bfloat16
        threads: int | None = knob(None, "torch CPU threads; None: all cores")
        cpu_offload: bool = knob(False, "enable_model_cpu_offload (CUDA): less VRAM, slower")
        vae_tiling: bool = knob(False, "decode in tiles: large frames in less memory")
        scheduler: str | None = None  # a diffusers scheduler class to swap in, e.g. EulerDiscreteScheduler
        negative_prompt: str = ""  # what to keep out of every picture (set per profile)
        steps: int = 30  # denoising steps
        guidance: float = 5.0  # classifier-free guidance scale

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._pipes: dict[str, Any] = {}

    def torch(self):
        return load_torch("video=diffusers", "gpu", self.params.threads if self.params.device == "cpu" else None)

    def pipeline(self, model: str, loader: str = "DiffusionPipeline") -> Any:
        """The pipeline in `model` (a local folder, or a hub id in the HF cache), loaded once, ready on the device."""
        if model in self._pipes:
            return self._pipes[model]
        torch = self.torch()
        try:
            import diffusers
        except ImportError as exc:
            raise StoryforgeError("video=diffusers_* needs diffusers.", "pip install 'storyforge[gpu]'.") from exc
        p = self.params
        try:
            with BUILDING:
                pipe = getattr(diffusers, loader).from_pretrained(model, dtype=getattr(torch, p.dtype), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise StoryforgeError(
                f"'{model}' is not a local diffusers pipeline folder or in the Hugging Face cache ({str(exc)[:160]}).",
                "download the weights where the machine can reach the hub (huggingface-cli download <id>) into HF_HOME, "
                "or point the video config at a local folder.",
            ) from exc
        if p.scheduler:
            pipe.scheduler = getattr(diffusers, p.scheduler).from_config(pipe.scheduler.config)
        if p.vae_tiling and hasattr(getattr(pipe, "vae", None), "enable_tiling"):
            pipe.vae.enable_tiling()
        if p.cpu_offload and p.device != "cpu":
            pipe.enable_model_cpu_offload(device=p.device)
        else:
            pipe = pipe.to(p.device)
        pipe.set_progress_bar_config(disable=True)
        self._pipes[model] = pipe
        return pipe

    def park(self, keep: str) -> None:
        """Move every other loaded pipeline off the GPU, so one model at a time holds device memory."""
        if self.params.device != "cpu" and not self.params.cpu_offload:
            for model, pipe in self._pipes.items():
                if model != keep:
                    pipe.to("cpu")
            free_memory()
            self._pipes[keep].to(self.params.device)

    def generator(self, seed: int):
        return self.torch().Generator("cpu").manual_seed(seed)  # the same numbers on any device

    def retry_smaller(self, what: str, size: tuple[int, int], run: Callable[[tuple[int, int]], R], multiple: int) -> R:
        """run(size); on CUDA out-of-memory, once more at three quarters of the size, then a clear error."""
        torch = self.torch()
        try:
            return run(size)
        except torch.cuda.OutOfMemoryError:
            pass  # retried below, outside the handler: its traceback would keep the failed call's tensors alive
        free_memory()
        smaller = (snap(size[0] * 3 // 4, multiple), snap(size[1] * 3 // 4, multiple))
        log.warning("%s: out of GPU memory at %dx%d; retrying at %dx%d.", what, *size, *smaller)
        try:
            return run(smaller)
        except torch.cuda.OutOfMemoryError:
            pass
        free_memory()
        raise StoryforgeError(
            f"{what}: out of GPU memory at {size[0]}x{size[1]} and again at {smaller[0]}x{smaller[1]}.",
            "lower video.width/video.height (or video.num_frames), or set video.cpu_offload=true and video.vae_tiling=true.",
        )

    def close(self) -> None:
        self._pipes.clear()
        free_memory()
