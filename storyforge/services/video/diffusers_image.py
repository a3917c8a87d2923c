"""`video=diffusers_image` (SDXL), `video=diffusers_sd15`, `video=diffusers_flux`: text-to-image keyframes
through diffusers (`AutoPipelineForText2Image`). Steps, guidance, size, scheduler and dtype come from config,
the seed from the stage (per shot, or per character).

Continuity (`continuity=last_frame|keyframe` in the recipe): the stage gives each shot the previous shot's
picture in the same scene, and the keyframe is drawn from it with the image-to-image pipeline made from the
same weights (`AutoPipelineForImage2Image.from_pipe`, no second load) at `continuity_strength`.

Identity (`identity=ip_adapter`, SD 1.5 and SDXL pipelines): an IP-Adapter (`load_ip_adapter` from a local
folder or the HF cache, laid out like h94/IP-Adapter: `<ip_adapter>/<ip_adapter_subfolder>/<ip_adapter_weight>`
and its CLIP image encoder) draws every shot that shows a character from that character's cast-sheet portrait
at `ip_adapter_scale`. Several characters in one shot: each portrait is masked to its own strip of the frame,
left to right in the order the shot names them (`ip_adapter_masks`), else the first-named character alone.
Plain, plus and face variants load alike (`ip_adapter_weight`). Pictures without a character (and portraits)
are drawn with the adapter at scale 0, which is the pipeline without it.

Identity figures (storyforge/stages/identity.py) embed pictures with the same CLIP image encoder: the loaded
adapter's, or with `identity=none` the one in `ip_adapter`'s folder when it is there, so figures with and
without conditioning compare. No encoder there: no figures, never an error.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import anyio

from storyforge.errors import ConfigError
from storyforge.models import Character, Shot
from storyforge.services.torch_runtime import BUILDING
from storyforge.services.video.diffusers_base import DiffusersBackend, call_args, frame_of, snap

log = logging.getLogger("storyforge")
ADAPTER_FIELDS = ("ip_adapter", "ip_adapter_subfolder", "ip_adapter_weight", "image_encoder_folder", "ip_adapter_scale",
                  "ip_adapter_masks")  # fmt: skip


class DiffusersImage(DiffusersBackend):
    class Params(DiffusersBackend.Params):
        model: str = "stabilityai/stable-diffusion-xl-base-1.0"  # folder or hub id (HF cache only)
        width: int = 1344  # keyframe size (snapped to a multiple of 16); the compositor scales to the frame
        height: int = 768
        continuity_strength: float = 0.6  # how far a continued keyframe may move from the previous picture
        identity: Literal["none", "ip_adapter"] = "none"  # how a character's portrait conditions their shots
        ip_adapter: str = "h94/IP-Adapter"  # folder (or hub id in the HF cache) holding the adapter and its encoder
        ip_adapter_subfolder: str = "sdxl_models"  # where the weight file sits in it (SD 1.5: models)
        ip_adapter_weight: str = "ip-adapter-plus_sdxl_vit-h.safetensors"  # plain, plus or face variant
        image_encoder_folder: str = "models/image_encoder"  # the CLIP image encoder: a folder name inside the
        # subfolder, or a path from the adapter folder's root (diffusers' rule)
        ip_adapter_scale: float = 0.6  # how strongly the portrait steers a shot (0: not at all, 1: strongly)
        ip_adapter_masks: bool = True  # several characters: each portrait on its own strip of the frame

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._adapted: set[str] = set()
        self._encoder: Any = None  # (image encoder, processor) for identity figures, or False when there is none

    @property
    def conditions_on_cast(self) -> bool:
        return self.params.identity == "ip_adapter"

    def models(self) -> list[str]:
        """The picture model (the keyframe model for image-to-video), and the IP-Adapter when it conditions."""
        return [*self.drawing_models(), self.params.ip_adapter if self.conditions_on_cast else ""]

    def drawing_models(self) -> list[str]:
        return [self.params.model]

    def fingerprint(self) -> dict:
        """Without identity conditioning the adapter settings do not change a picture: left out (so pointing
        `ip_adapter` at an encoder for identity figures redraws nothing, and caches from before it stay valid)."""
        fp = super().fingerprint()
        return fp if self.conditions_on_cast else {k: v for k, v in fp.items() if k not in (*ADAPTER_FIELDS, "identity")}

    def portrait_fingerprint(self) -> dict:
        """What a portrait depends on: the keyframe model and how it draws, not the adapter (portraits are drawn
        at scale 0, which is the pipeline without it) or clip settings."""
        keep = ("target", "provider", "device", "dtype", "scheduler", "negative_prompt", "width", "height")
        return {**{k: v for k, v in super().fingerprint().items() if k in keep}, "model": self.portrait_model,
                "steps": self.portrait_steps[0], "guidance": self.portrait_steps[1]}  # fmt: skip

    @property
    def portrait_steps(self) -> tuple[int | None, float | None]:
        return self.params.steps, self.params.guidance

    def embedder(self) -> str:
        """Names the image encoder identity figures come from, and whether it is there: part of their cache key,
        so figures left out for want of an encoder are measured once it is downloaded."""
        p = self.params
        return f"{p.ip_adapter}:{self._encoder_subfolder()}" + ("" if self._encoder_config() else " (missing)")

    def _encoder_config(self) -> str | None:
        """The encoder's config.json, in the folder or the HF cache; None when it is not there."""
        p = self.params
        local = Path(p.ip_adapter).expanduser() / self._encoder_subfolder() / "config.json"
        if local.is_file():
            return str(local)
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(p.ip_adapter, f"{self._encoder_subfolder()}/config.json")
        except (ImportError, ValueError):
            return None
        return found if isinstance(found, str) else None

    @property
    def portrait_model(self) -> str:
        return self.params.model

    async def render(
        self, shot: Shot, scene_index: int, prompt: str, seed: int, out: Path, previous: Path | None = None,
        continuity: str = "none",
        cast: Sequence[Character] = (),
        references: Mapping[str, Path] | None = None,
    ) -> Path:  # fmt: skip
        refs = self._references(shot, references, previous is not None, continuity)
        return await anyio.to_thread.run_sync(self._render, shot, prompt, seed, out, previous, refs, limiter=self.limiter)

    async def portrait(self, character: Character, prompt: str, seed: int, out: Path, view: str = "front") -> Path:
        return await anyio.to_thread.run_sync(self._portrait, prompt, seed, out, view, *self.portrait_steps, limiter=self.limiter)

    async def embed(self, images: Sequence[Path]) -> list[list[float]] | None:
        return await anyio.to_thread.run_sync(self._embed, list(images), limiter=self.limiter)

    def drawn_from(self, shot: Shot, references: Mapping[str, Any] | None, previous: bool = False,
                   continuity: str = "none") -> dict[str, Any]:  # fmt: skip
        """The portraits a shot is drawn from, by character, in the order the shot names them: all of them with
        masks, else the first-named one; none without identity conditioning, or when the shot continues the one
        before without a keyframe of its own (`continues`)."""
        if not self.conditions_on_cast or not references or self.continues(previous, continuity):
            return {}
        ordered = {n: references[n] for n in shot.characters if n in references}
        return ordered if self.params.ip_adapter_masks else dict(list(ordered.items())[:1])

    def continues(self, previous: bool, continuity: str) -> bool:
        """Whether a shot is drawn without a keyframe of its own (a keyframe always has one)."""
        return False

    def _references(self, shot: Shot, references: Mapping[str, Path] | None, previous: bool, continuity: str) -> list[Path]:
        return list(self.drawn_from(shot, references, previous, continuity).values())

    def _render(self, shot: Shot, prompt: str, seed: int, out: Path, previous: Path | None, refs: list[Path]) -> Path:
        init = None
        if previous is not None:
            from PIL import Image

            is_clip = previous.suffix == ".mp4"
            init = (
                frame_of(previous, last=True, out=out.with_name("previous.png"))
                if is_clip
                else Image.open(previous).convert("RGB")
            )
        image = self.keyframe(self.params.model, prompt, seed, (self.params.width, self.params.height), init, shot.id,
                              references=refs)  # fmt: skip
        out = out.with_suffix(".png")
        image.save(out)
        return out

    def _portrait(self, prompt: str, seed: int, out: Path, view: str, steps: int | None = None,
                  guidance: float | None = None) -> Path:  # fmt: skip
        side = snap(min(self.params.width or 768, self.params.height or 768), 16)
        size = (side, side) if view == "front" else (snap(side * 2 // 3, 16), side)
        image = self.keyframe(self.portrait_model, prompt, seed, size, None, f"portrait {out.stem}", steps, guidance)
        out = out.with_suffix(".png")
        image.save(out)
        return out

    def keyframe(
        self, model: str, prompt: str, seed: int, size: tuple[int, int], init: Any = None, what: str = "",
        steps: int | None = None, guidance: float | None = None, references: Sequence[Path] = (),
    ) -> Any:  # fmt: skip
        """One picture from `prompt` (from `init` as well, when continuing a scene; from the characters'
        `references` with identity conditioning), as a PIL image."""
        p = self.params
        pipe = self.pipeline(model, "AutoPipelineForText2Image")
        self.park(model)
        if self.conditions_on_cast:
            self._adapt(model, pipe)
        if init is not None:
            import diffusers

            pipe = diffusers.AutoPipelineForImage2Image.from_pipe(pipe)

        def draw(wh: tuple[int, int]) -> Any:
            kwargs = call_args(
                pipe, prompt=prompt, negative_prompt=p.negative_prompt or None, width=wh[0], height=wh[1],
                num_inference_steps=steps or p.steps, guidance_scale=p.guidance if guidance is None else guidance,
                generator=self.generator(seed), image=init.resize(wh) if init is not None else None, strength=p.continuity_strength if init is not None else None,
            )  # fmt: skip
            if self.conditions_on_cast:
                kwargs |= self._identity_args(pipe, references, wh)
            return pipe(**kwargs).images[0]

        return self.retry_smaller(f"keyframe {what}", (snap(size[0], 16), snap(size[1], 16)), draw, 16)

    # ---------------------------------------------------------------------------------------------- identity

    def _adapt(self, model: str, pipe: Any) -> None:
        """Load the IP-Adapter into the keyframe pipeline, once."""
        if model in self._adapted:
            return
        p = self.params
        if not hasattr(pipe, "unet") or not hasattr(pipe, "load_ip_adapter"):
            raise ConfigError(
                f"video.identity=ip_adapter needs an SD 1.5 or SDXL pipeline; {model} is a {type(pipe).__name__}.",
                "use video=diffusers_sd15 or video=diffusers_image (SDXL) for keyframes, or video.identity=none.",
            )
        try:
            with BUILDING:
                pipe.load_ip_adapter(p.ip_adapter, subfolder=p.ip_adapter_subfolder, weight_name=p.ip_adapter_weight,
                                     image_encoder_folder=p.image_encoder_folder, local_files_only=True)  # fmt: skip
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ConfigError(
                f"video.identity=ip_adapter could not load {p.ip_adapter_subfolder}/{p.ip_adapter_weight} with its image "
                f"encoder from {p.ip_adapter} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).",
                "download the adapter where the machine can reach the hub (huggingface-cli download h94/IP-Adapter) into "
                "HF_HOME, or point video.ip_adapter at a local folder; match video.ip_adapter_subfolder, "
                "video.ip_adapter_weight and video.image_encoder_folder to the keyframe model (SD 1.5: models; SDXL: sdxl_models).",
            ) from None
        self._adapted.add(model)

    def _identity_args(self, pipe: Any, references: Sequence[Path], size: tuple[int, int]) -> dict[str, Any]:
        """The pipeline arguments that draw from the characters' portraits: one portrait, or several each masked to
        its strip of the frame; none at all is the adapter at scale 0 (the pipeline without it)."""
        from PIL import Image

        p = self.params
        if not references:
            pipe.set_ip_adapter_scale(0.0)
            return {"ip_adapter_image": Image.new("RGB", (64, 64), (127, 127, 127))}
        images = [square(Image.open(r).convert("RGB")) for r in references]
        if len(images) == 1:
            pipe.set_ip_adapter_scale(p.ip_adapter_scale)
            return {"ip_adapter_image": images[0]}
        from diffusers.image_processor import IPAdapterMaskProcessor

        w, h, n = size[0], size[1], len(images)
        masks = []
        for i in range(n):  # a strip per character, left to right
            mask = Image.new("L", (w, h), 0)
            mask.paste(255, (i * w // n, 0, (i + 1) * w // n, h))
            masks.append(mask)
        processed = IPAdapterMaskProcessor().preprocess(masks, height=h, width=w)
        pipe.set_ip_adapter_scale([[p.ip_adapter_scale] * n])
        return {
            "ip_adapter_image": [images],
            "cross_attention_kwargs": {"ip_adapter_masks": [processed.reshape(1, n, *processed.shape[2:])]},
        }

    def _encoder_subfolder(self) -> str:
        p = self.params
        folder = p.image_encoder_folder
        return folder if "/" in folder else f"{p.ip_adapter_subfolder}/{folder}"

    def _embed(self, images: list[Path]) -> list[list[float]] | None:
        """CLIP image embeddings (unit length) of the pictures, with the adapter's own image encoder."""
        encoder = self._image_encoder()
        if encoder is None:
            return None
        model, processor = encoder
        torch = self.torch()
        with tempfile.TemporaryDirectory() as scratch:
            pictures = [picture_of(path, Path(scratch) / f"{i}.png") for i, path in enumerate(images)]
        out: list[list[float]] = []
        with torch.inference_mode():
            for start in range(0, len(pictures), 8):
                pixels = processor(images=pictures[start : start + 8], return_tensors="pt").pixel_values
                embeds = model(pixels.to(model.device, model.dtype)).image_embeds.float()
                out += torch.nn.functional.normalize(embeds, dim=-1).cpu().tolist()
        return out

    def _image_encoder(self) -> tuple[Any, Any] | None:
        """The loaded adapter's image encoder, else the one in `ip_adapter`'s folder; None when there is none."""
        for model in self._adapted:
            pipe = self._pipes[model]
            if getattr(pipe, "image_encoder", None) is not None:
                self.park(model)  # image-to-video may have left the keyframe pipeline in CPU memory
                return pipe.image_encoder, pipe.feature_extractor
        if self._encoder is None:
            self._encoder = self._load_encoder() or False
        return self._encoder or None

    def _load_encoder(self) -> tuple[Any, Any] | None:
        p = self.params
        torch = self.torch()
        try:
            from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

            with BUILDING:
                model = CLIPVisionModelWithProjection.from_pretrained(p.ip_adapter, subfolder=self._encoder_subfolder(),
                                                                      local_files_only=True, dtype=getattr(torch, p.dtype))  # fmt: skip
        except (OSError, ValueError) as exc:
            log.warning("identity figures: no image encoder at %s/%s (%s); the figures are left out. Set "
                        "video.ip_adapter to a folder that has one.", p.ip_adapter, self._encoder_subfolder(),
                        str(exc).splitlines()[0][:120])  # fmt: skip
            return None
        size = model.config.image_size
        return model.to(p.device).eval(), CLIPImageProcessor(size=size, crop_size=size)

    def close(self) -> None:
        self._adapted.clear()
        self._encoder = None
        super().close()


def square(image: Any) -> Any:
    """A picture padded to a square with its edge colour, so an encoder's centre crop keeps all of it."""
    from PIL import Image

    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    out = Image.new("RGB", (side, side), image.getpixel((0, 0)))
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out


def picture_of(path: Path, scratch: Path) -> Any:
    """A still, or a clip's first frame (the keyframe it was animated from, extracted to `scratch`), padded to a
    square so the encoder's centre crop sees the whole frame."""
    from PIL import Image

    if path.suffix.lower() == ".mp4":
        return square(frame_of(path, last=False, out=scratch))
    with Image.open(path) as image:
        return square(image.convert("RGB"))
