"""Storyboard cards: text inside what every Ken Burns move keeps in view, wrapped by measured width and cut at a
word with an ellipsis; a font that covers the card's script (a warning, once, when none does), whose file's
digest is part of the card's cache key."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFont

from storyforge.engine.contract import PromptSet
from storyforge.engine.graph import build_graph
from storyforge.engine.runner import base_payload, item_base, unit_key
from storyforge.media import font_for
from storyforge.models import Shot, ShotType
from storyforge.resources import resource_dir
from storyforge.services.video.storyboard import ELLIPSIS, StoryboardVideo, scene_colour, wrap
from storyforge.timeline import safe_area
from tests.conftest import ROOT

LONG = " ".join(["The lighthouse keeper climbed the spiral stairs one more time, counting every step."] * 6)
HINDI = "गौरी को पतंग उड़ाना बहुत पसंद था। वह हर शाम छत पर जाती थी और आसमान को देखती थी।"
LATIN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # any font file without Devanagari
DEVANAGARI = font_for("हिन्दी", None, False)  # an installed font with Devanagari glyphs, if there is one
needs_devanagari = pytest.mark.skipif(
    bool(DEVANAGARI.missing), reason="no Devanagari font installed (apt-get install fonts-lohit-deva)"
)
needs_latin_font = pytest.mark.skipif(not Path(LATIN_FONT).is_file(), reason="DejaVu Sans is not installed (fonts-dejavu-core)")


def shot(narration: str = LONG, description: str = LONG, **fields) -> Shot:
    return Shot(
        scene_index=1,
        index=2,
        shot_type=ShotType.establishing,
        camera="slow pan left across the harbour at dusk",
        description=description,
        narration=narration,
        duration_s=4,
        characters=["Elias Thornbury", "Mara", "the Harbourmaster"],
        **fields,
    )


def cut_after_a_word(lines: list[str], text: str) -> bool:
    """Whether the lines show the text's first words whole (the last one maybe without its comma), then "…"."""
    shown, words = " ".join(lines).removesuffix(ELLIPSIS).split(), text.split()
    return shown[:-1] == words[: len(shown) - 1] and shown[-1] in (words[len(shown) - 1], words[len(shown) - 1].rstrip(",;:"))


@pytest.mark.parametrize("text", [LONG, pytest.param(HINDI * 4, marks=needs_devanagari)])
@pytest.mark.parametrize("size", [(640, 360), (360, 640)])
def test_card_text_lies_inside_what_every_ken_burns_move_keeps_in_view(tmp_path, text, size):
    width, height = size
    card = StoryboardVideo(width=width, height=height)._draw(shot(text, text), 1, tmp_path / "card.png")
    pixels = np.asarray(Image.open(card).convert("RGB")).astype(int)
    left, top, right, bottom = safe_area(width, height)
    ink = np.abs(pixels - np.array(scene_colour(1))).sum(axis=2) > 30
    inside = np.zeros_like(ink)
    inside[top:bottom, left:right] = True
    assert ink[inside].sum() > 1000  # something was drawn...
    assert not ink[~inside].any()  # ...and nothing where a pan or zoom could crop it


def test_text_is_wrapped_by_its_measured_width_and_cut_after_a_word_with_an_ellipsis():
    font = ImageFont.load_default(size=20)
    lines = wrap(LONG, font, 300, 3)
    assert len(lines) == 3 and all(font.getlength(line) <= 300 for line in lines)
    assert lines[-1].endswith(ELLIPSIS)
    assert cut_after_a_word(lines, LONG)
    assert wrap("A short line.", font, 300, 3) == ["A short line."]  # what fits is left alone
    wide = ImageFont.load_default(size=40)  # the same text in a wider font takes more lines: measured, not counted
    assert len(wrap(LONG, wide, 300, 50)) > len(wrap(LONG, font, 300, 50))


@needs_devanagari
def test_devanagari_and_text_without_spaces_wrap_to_the_width():
    font = DEVANAGARI.load(24)
    lines = wrap(HINDI * 3, font, 280, 4)
    assert all(font.getlength(line) <= 280 for line in lines) and lines[-1].endswith(ELLIPSIS)
    assert cut_after_a_word(lines, HINDI * 3)
    solid = "गौरीकोपतंगउड़ानाबहुतपसंदथा" * 3  # no spaces: cut between letters, never between a letter and its marks
    pieces = wrap(solid, font, 150, 10)
    assert "".join(pieces) == solid and all(font.getlength(p) <= 150 for p in pieces)
    assert all(not ("\u093e" <= p[0] <= "\u094d") for p in pieces)  # no piece starts with a vowel sign or virama


@needs_devanagari
def test_a_card_is_drawn_in_a_font_that_covers_its_script():
    boards = StoryboardVideo()
    assert boards.font(shot()).file == ""  # English: Pillow's own font
    hindi = boards.font(shot(HINDI, HINDI))
    assert hindi.missing == "" and hindi.file and ImageFont.truetype(hindi.file, 20).getlength("क") > 0


@needs_latin_font
def test_a_card_key_follows_the_font_file_its_text_is_drawn_with(tmp_path):
    font = tmp_path / "font.ttf"
    shutil.copyfile(LATIN_FONT, font)
    graph = build_graph(
        {"visuals": {"_target_": "storyforge.stages.visuals.RenderShot", "needs": {"shot": "source", "story": "source"}}},
        {"video": {"_target_": "storyforge.services.video.storyboard.StoryboardVideo", "font": str(font)}},
    )
    node = graph.nodes["visuals"]
    prompts = PromptSet(resource_dir("conf") / "prompts" / "v1")

    def key(item: Shot) -> str:
        base = base_payload(node, {n: s.fingerprint() for n, s in graph.services.items()}, prompts)
        return unit_key(item_base(node, base, item), 1, {"shot": "a", "story": "b"})

    before = key(shot())
    assert key(shot()) == before
    shutil.copyfile(Path(LATIN_FONT).with_name("DejaVuSans-Bold.ttf"), tmp_path / "new.ttf")
    os.replace(tmp_path / "new.ttf", font)  # the font file is replaced, as a package upgrade does
    assert key(shot()) != before
    assert graph.services["video"].item_fingerprint(shot())["font_sha256"] == font_for("x", str(font)).sha256


@needs_devanagari
def test_the_font_in_a_card_key_follows_the_script_of_its_text():
    boards = StoryboardVideo()
    english, hindi = boards.item_fingerprint(shot()), boards.item_fingerprint(shot(HINDI, HINDI))
    assert english["font_sha256"] != hindi["font_sha256"]
    assert boards.item_fingerprint(shot(HINDI, "another picture")) == hindi


@needs_latin_font
def test_a_hindi_card_without_a_covering_font_warns_once_naming_the_fix(tmp_path):
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    shutil.copyfile(LATIN_FONT, fonts / "DejaVuSans.ttf")  # a machine whose only font has no Devanagari
    config = tmp_path / "fonts.conf"
    config.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n'
        f"<fontconfig><dir>{fonts}</dir><cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>\n"
    )
    script = textwrap.dedent(f"""
        from pathlib import Path
        from storyforge.models import Shot, ShotType
        from storyforge.services.video.storyboard import StoryboardVideo
        boards = StoryboardVideo(width=320, height=180)
        for i, text in enumerate([{HINDI!r}, {HINDI[::-1]!r}, {HINDI!r} * 2]):
            shot = Shot(scene_index=1, index=i + 1, shot_type="wide", description=text, narration=text, duration_s=2)
            boards.item_fingerprint(shot)
            boards._draw(shot, 1, Path({str(tmp_path)!r}) / f"card{{i}}.png")
    """)
    env = {"FONTCONFIG_FILE": str(config), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "Devanagari" in line]
    assert len(warnings) == 1, proc.stderr
    assert "apt-get install fonts-lohit-deva" in warnings[0] and "video.font=" in warnings[0]
