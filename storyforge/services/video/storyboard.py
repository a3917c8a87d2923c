"""`video=storyboard`: a storyboard card per shot, drawn with Pillow. No weights, no network.

The card has a background coloured by scene, the scene and shot number, the shot type and camera move, the
shot description wrapped to fit, and who is in it. Pillow's built-in font covers Latin text; for other scripts
an installed font that covers them is found with fontconfig (or pass `font`, a TTF path).
"""

from __future__ import annotations

import colorsys
import textwrap
from pathlib import Path

import anyio
from PIL import Image, ImageDraw, ImageFont

from storyforge import text as tx
from storyforge.engine.contract import Service, knob
from storyforge.media import system_font
from storyforge.models import ModelProvider, Shot


def scene_colour(scene_index: int) -> tuple[int, int, int]:
    """A dark, saturated colour per scene, spread around the hue circle by the golden ratio."""
    r, g, b = colorsys.hsv_to_rgb((scene_index * 0.618034) % 1.0, 0.55, 0.35)
    return int(r * 255), int(g * 255), int(b * 255)


class StoryboardVideo(Service):
    provider = ModelProvider.procedural

    class Params(Service.Params):
        max_concurrency: int = knob(2, "Cards drawn at once (CPU-bound: one per core)")
        width: int = 1280  # card width in pixels
        height: int = 720  # card height in pixels
        font: str | None = None  # TTF/OTF file for the text; None: Pillow's built-in one (Latin), or for other
        # scripts an installed font that covers them (fontconfig)

    async def render(
        self,
        shot: Shot,
        scene_index: int,
        prompt: str,
        seed: int,
        out: Path,
        previous: Path | None = None,
        continuity: str = "none",
    ) -> Path:  # fmt: skip  (cards are drawn from the shot alone)
        return await anyio.to_thread.run_sync(self._draw, shot, scene_index, out.with_suffix(".png"), limiter=self.limiter)

    def _font(self, size: int, language: str) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        font = self.params.font or (language != "en" and (system_font(language) or ("",))[0])
        return ImageFont.truetype(font, size) if font else ImageFont.load_default(size=size)

    def _draw(self, shot: Shot, scene_index: int, out: Path) -> Path:
        w, h = self.params.width, self.params.height
        unit = h / 720
        image = Image.new("RGB", (w, h), scene_colour(scene_index))
        draw = ImageDraw.Draw(image)
        margin = int(60 * unit)
        draw.rectangle(
            [margin // 2, margin // 2, w - margin // 2, h - margin // 2], outline=(235, 235, 225), width=max(2, int(3 * unit))
        )
        language = tx.language(shot.narration)  # a font that covers the script (Pillow's own is Latin only)
        small, body = self._font(int(28 * unit), language), self._font(int(40 * unit), language)
        header = f"SCENE {shot.scene_index}  ·  SHOT {shot.index}  ·  {shot.shot_type.value.replace('_', ' ').upper()}  ·  {shot.camera}"
        draw.text((margin, margin), header, fill=(250, 220, 120), font=small)
        chars_per_line = max(20, int((w - 2 * margin) / (21 * unit)))
        y = margin + int(70 * unit)
        for line in textwrap.wrap(shot.description, chars_per_line)[:5]:
            draw.text((margin, y), line, fill=(245, 245, 240), font=body)
            y += int(52 * unit)
        y += int(20 * unit)
        draw.line([margin, y, w - margin, y], fill=(150, 150, 140), width=max(1, int(2 * unit)))
        y += int(24 * unit)
        for line in textwrap.wrap(shot.narration, int(chars_per_line * 1.45))[:6]:
            if y > h - margin - int(80 * unit):
                break
            draw.text((margin, y), line, fill=(200, 200, 190), font=small)
            y += int(38 * unit)
        if shot.characters:
            draw.text(
                (margin, h - margin - int(36 * unit)), "with " + ", ".join(shot.characters), fill=(200, 220, 255), font=small
            )
        image.save(out, format="PNG", optimize=False, compress_level=1)
        return out
