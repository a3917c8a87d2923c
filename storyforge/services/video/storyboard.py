"""`video=storyboard`: a storyboard card per shot, drawn with Pillow. No weights, no network.

The card has a background coloured by scene and, framed inside the part of the picture that every Ken Burns
move keeps in view (storyforge/timeline.py `safe_area`), the scene and shot number, the shot type and camera
move, the shot description, its narration and who is in it. Text is wrapped by its measured width and what does
not fit ends in an ellipsis after a whole word. The font is `font` when set, else Pillow's built-in one where it
covers the card's text (Latin without accents), else an installed font that does (fontconfig); when none does,
a warning says which package to install. The font file's digest is part of each card's cache key
(`item_fingerprint`), so installing a font re-draws the cards it changes.

The cast sheet gets a card per character (`portrait`): the name, a figure in the character's own colour (from
their name) and their description, so the cast stage and its cache behaviour are visible without a GPU. Shot
cards do not draw from the portraits (`conditions_on_cast` is false): a new portrait redraws no shot card.
"""

from __future__ import annotations

import colorsys
import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from PIL import Image, ImageDraw, ImageFont

from storyforge.engine.contract import Service, knob
from storyforge.media import Font, font_for
from storyforge.models import Character, ModelProvider, Shot
from storyforge.timeline import safe_area

ELLIPSIS = "…"  # ends text that does not fit
CARD = 2  # the card's layout: bump when a card for the same shot and cast looks different (2: a line per character)
CAST_CARD = 1  # the cast card's layout: bump when a card for the same character looks different
PillowFont = ImageFont.FreeTypeFont | ImageFont.ImageFont


def scene_colour(scene_index: int) -> tuple[int, int, int]:
    """A dark, saturated colour per scene, spread around the hue circle by the golden ratio."""
    return rgb((scene_index * 0.618034) % 1.0, 0.55, 0.35)


def rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return int(r * 255), int(g * 255), int(b * 255)


def wrap(text: str, font: PillowFont, width: float, max_lines: int) -> list[str]:
    """`text` in at most `max_lines` lines no wider than `width` pixels as `font` draws them, broken between words
    (a word wider than a line on its own, as in text without spaces, between its characters). Text left over ends
    the last line with an ellipsis after its last whole word."""
    if max_lines <= 0 or not text.split():
        return []
    lines, current, left_over = [], "", False
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if font.getlength(trial) <= width:
            current = trial
            continue
        if len(lines) + bool(current) >= max_lines:
            left_over = True
            break
        lines += [current] if current else []
        pieces = _pieces(word, font, width)
        lines, current = lines + pieces[:-1], pieces[-1]
    lines += [current] if current else []
    if not left_over and len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    return [*kept[:-1], _ellipsized(kept[-1], font, width)]


def _ellipsized(line: str, font: PillowFont, width: float) -> str:
    """`line` with an ellipsis after it, dropping whole words from its end until both fit (characters only when
    the line is a single word too wide for one)."""
    while line and font.getlength(line.rstrip(" ,;:-–—") + ELLIPSIS) > width:
        line = line.rsplit(" ", 1)[0] if " " in line else "".join(_clusters(line)[:-1])
    return line.rstrip(" ,;:-–—") + ELLIPSIS


def _pieces(word: str, font: PillowFont, width: float) -> list[str]:
    """A word in pieces no wider than `width`, cut between characters (never inside one with its marks)."""
    pieces = [""]
    for cluster in _clusters(word):
        if pieces[-1] and font.getlength(pieces[-1] + cluster) > width:
            pieces.append("")
        pieces[-1] += cluster
    return pieces


def _clusters(text: str) -> list[str]:
    """The text as characters with their combining marks (a virama or a zero-width joiner holds on to the next)."""
    out: list[str] = []
    for c in text:
        if out and (unicodedata.category(c)[0] == "M" or unicodedata.combining(out[-1][-1]) == 9 or out[-1][-1] == "\u200d"):
            out[-1] += c
        else:
            out.append(c)
    return out


def character_colour(name: str) -> tuple[int, int, int]:
    """A dark colour per character, from their name (the same in every run)."""
    return rgb(int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") / 65536, 0.45, 0.3)


class StoryboardVideo(Service):
    provider = ModelProvider.procedural
    conditions_on_cast = False  # shot cards name the cast; they are not drawn from the portraits

    class Params(Service.Params):
        max_concurrency: int = knob(2, "Cards drawn at once (CPU-bound: one per core)")
        width: int = 1280  # card width in pixels
        height: int = 720  # card height in pixels
        font: str | None = None  # TTF/OTF file (or installed family) for the text; None: Pillow's built-in one
        # where it covers the text (Latin without accents), else an installed font that does (fontconfig)

    async def render(
        self,
        shot: Shot,
        scene_index: int,
        prompt: str,
        seed: int,
        out: Path,
        previous: Path | None = None,
        continuity: str = "none",
        cast: Sequence[Character] = (),
        references: Mapping[str, Path] | None = None,
    ) -> Path:  # fmt: skip  (cards are drawn from the shot and its cast, not the prompt)
        return await anyio.to_thread.run_sync(self._draw, shot, scene_index, out.with_suffix(".png"), tuple(cast),
                                              limiter=self.limiter)  # fmt: skip

    async def portrait(self, character: Character, prompt: str, seed: int, out: Path, view: str = "front") -> Path:
        return await anyio.to_thread.run_sync(self._draw_portrait, character, view, out.with_suffix(".png"),
                                              limiter=self.limiter)  # fmt: skip

    async def embed(self, images: Sequence[Path]) -> list[list[float]] | None:
        return None  # no image encoder: cards carry no identity to measure

    def item_fingerprint(self, item: Any) -> dict:
        """The font a shot's or a character's card is drawn with (it follows the script of the card's text): a font
        installed or replaced later re-draws the cards it changes."""
        if isinstance(item, Shot):
            font, card = self.font(item), CARD
        elif isinstance(item, Character):
            font, card = self._font_for([item.name, item.description]), CAST_CARD
        else:
            return {}
        return {"font_family": font.family, "font_sha256": font.sha256, "card": card}

    def font(self, shot: Shot) -> Font:
        """The font for the card of `shot`: one that covers all of its text (storyforge/media.py `font_for`)."""
        return self._font_for(self._texts(shot))

    def _font_for(self, texts: Sequence[str]) -> Font:
        return font_for("\n".join([*texts, ELLIPSIS]), self.params.font, True, "video.font")

    def _draw_portrait(self, character: Character, view: str, out: Path) -> Path:
        """A cast card: a portrait-shaped card (taller for the full-body view) with a figure in the character's
        colour, their name, and their description."""
        side = min(self.params.width, self.params.height)
        w, h = (side * 3 // 4, side) if view == "front" else (side // 2, side)
        unit = side / 720
        colour = character_colour(character.name)
        light = tuple(min(255, c * 3 + 40) for c in colour)
        image = Image.new("RGB", (w, h), colour)
        draw = ImageDraw.Draw(image)
        font = self._font_for([character.name, character.description])
        title, small = font.load(max(8, int(40 * unit))), font.load(max(8, int(24 * unit)))
        cx, figure_h = w // 2, int(h * (0.42 if view == "front" else 0.62))
        if view == "front":  # head and shoulders
            r, top = figure_h // 5, int(22 * unit)
            draw.ellipse([cx - r, top, cx + r, top + 2 * r], fill=light)
            draw.chord([cx - 2 * r, top + 2 * r, cx + 2 * r, top + 7 * r], 180, 360, fill=light)
        else:  # head to toe
            r = figure_h // 10
            top = int(16 * unit)
            draw.ellipse([cx - r, top, cx + r, top + 2 * r], fill=light)
            draw.rounded_rectangle([cx - int(1.6 * r), top + 2 * r, cx + int(1.6 * r), top + 6 * r], radius=r // 2, fill=light)
            draw.rectangle([cx - int(1.2 * r), top + 6 * r, cx - int(0.2 * r), top + 10 * r], fill=light)
            draw.rectangle([cx + int(0.2 * r), top + 6 * r, cx + int(1.2 * r), top + 10 * r], fill=light)
        pad, y = int(20 * unit), figure_h + int(30 * unit)
        for line in wrap(character.name, title, w - 2 * pad, 2):
            draw.text((pad, y), line, fill=(250, 220, 120), font=title)
            y += sum(title.getmetrics()) + int(4 * unit)
        y += int(8 * unit)
        line_h = sum(small.getmetrics()) + int(4 * unit)
        for line in wrap(" ".join(character.description.split()) or "(no description)", small, w - 2 * pad,
                         max(0, (h - pad - y) // line_h)):  # fmt: skip
            draw.text((pad, y), line, fill=(235, 235, 225), font=small)
            y += line_h
        image.save(out, format="PNG", optimize=False, compress_level=1)
        return out

    @staticmethod
    def _texts(shot: Shot, cast: Sequence[Character] = ()) -> tuple[str, str, str, str]:
        """The card's header, description, narration and cast lines: a line per character (up to three) with the
        start of their look, as the story's cast describes them, so editing a character shows on every card of
        theirs."""
        take = f"  ·  TAKE {shot.take + 1}" if shot.take else ""  # a re-roll: a real model draws anew, a card says so
        header = f"SCENE {shot.scene_index}  ·  SHOT {shot.index}{take}  ·  {shot.shot_type.value.replace('_', ' ').upper()}  ·  {shot.camera}"
        looks = {c.name: " ".join(c.description.split()) for c in cast}
        who = [f"{name}: {looks[name]}" if looks.get(name) else name for name in shot.characters[:3]]
        if len(shot.characters) > 3:
            who[-1] = f"{who[-1]} (+{len(shot.characters) - 3} more)"
        return header, shot.description, shot.narration, "\n".join(who)

    def _draw(self, shot: Shot, scene_index: int, out: Path, cast: tuple[Character, ...] = ()) -> Path:
        w, h = self.params.width, self.params.height
        unit = min(w, h) / 720  # sizes follow the shorter side, so a vertical card is not all huge type
        image = Image.new("RGB", (w, h), scene_colour(scene_index))
        draw = ImageDraw.Draw(image)
        left, top, right, bottom = safe_area(w, h)  # what every Ken Burns move keeps in view
        draw.rectangle([left, top, right - 1, bottom - 1], outline=(235, 235, 225), width=max(2, int(3 * unit)))
        pad = int(22 * unit)
        x, y, x_end, y_end, width = left + pad, top + pad, right - pad, bottom - pad, right - left - 2 * pad
        font = self.font(shot)
        small, body = font.load(max(8, int(24 * unit))), font.load(max(8, int(32 * unit)))
        small_h, body_h = (sum(f.getmetrics()) + int(4 * unit) for f in (small, body))
        header, description, narration, who = self._texts(shot, cast)
        who_lines = [wrap(line, small, width, 1)[0] for line in who.splitlines() if line.strip()]
        draw.text((x, y), wrap(header, small, width, 1)[0], fill=(250, 220, 120), font=small)
        y += small_h + int(10 * unit)
        for line in wrap(description, body, width, 3):
            draw.text((x, y), line, fill=(245, 245, 240), font=body)
            y += body_h
        y += int(10 * unit)
        draw.line([x, y, x_end, y], fill=(150, 150, 140), width=max(1, int(2 * unit)))
        y += int(14 * unit)
        last = y_end - small_h * len(who_lines)  # the narration ends above the cast lines
        for line in wrap(narration, small, width, max(0, (last - y) // small_h)):
            draw.text((x, y), line, fill=(200, 200, 190), font=small)
            y += small_h
        for i, line in enumerate(who_lines):
            draw.text((x, y_end - small_h * (len(who_lines) - i)), line, fill=(200, 220, 255), font=small)
        image.save(out, format="PNG", optimize=False, compress_level=1)
        return out
