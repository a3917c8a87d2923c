"""Small media helpers shared by stages and services: WAV I/O with the standard library and numpy, and the font
that draws a text (cards, burned-in subtitles)."""

from __future__ import annotations

import bisect
import hashlib
import logging
import mimetypes
import os
import shutil
import subprocess
import threading
import unicodedata
import wave
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import ImageFont

from storyforge.errors import ConfigError

log = logging.getLogger("storyforge")


def wav_duration(path: Path) -> float:
    """Length of a WAV file in seconds, measured from its header."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / w.getframerate()


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> Path:
    """Write float samples in [-1, 1] (shape (n,) mono or (n, channels)) as 16-bit PCM."""
    data = np.clip(samples, -1.0, 1.0)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes((data * 32767).astype("<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV as float samples in [-1, 1] (shape (n,) mono or (n, channels)) and its sample rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path.name}: {8 * w.getsampwidth()}-bit WAV; only 16-bit PCM is read")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
        channels, rate = w.getnchannels(), w.getframerate()
    return (data if channels == 1 else data.reshape(-1, channels)), rate


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear-interpolation resampling (enough to join speech clips; the mix resamples with ffmpeg)."""
    if rate == target or len(samples) == 0:
        return samples
    n = round(len(samples) * target / rate)
    x = np.linspace(0, len(samples) - 1, n)
    if samples.ndim == 1:
        return np.interp(x, np.arange(len(samples)), samples)
    return np.stack([np.interp(x, np.arange(len(samples)), samples[:, c]) for c in range(samples.shape[1])], axis=1)


def media_type(path: Path) -> str:
    return (
        {".wav": "audio/wav", ".srt": "application/x-subrip"}.get(path.suffix)
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


# -- fonts -------------------------------------------------------------------------------------------------------


BUILTIN_FONT = "Pillow's built-in font"  # the family name we give Pillow's own font (Latin only, no accents)
FONT_PACKAGES = {  # script (first word of a letter's Unicode name) -> Debian/Ubuntu package with a font for it
    "DEVANAGARI": "fonts-lohit-deva",
    "BENGALI": "fonts-lohit-beng-bengali",
    "GURMUKHI": "fonts-lohit-guru",
    "GUJARATI": "fonts-lohit-gujr",
    "ORIYA": "fonts-lohit-orya",
    "TAMIL": "fonts-lohit-taml",
    "TELUGU": "fonts-lohit-telu",
    "KANNADA": "fonts-lohit-knda",
    "MALAYALAM": "fonts-lohit-mlym",
    "CJK": "fonts-noto-cjk",
    "HIRAGANA": "fonts-noto-cjk",
    "KATAKANA": "fonts-noto-cjk",
    "HANGUL": "fonts-noto-cjk",
    "LATIN": "fonts-dejavu-core",
    "CYRILLIC": "fonts-dejavu-core",
    "GREEK": "fonts-dejavu-core",
}  # any other script: fonts-noto-core
_NOT_A_CHARACTER = "\U0010fffd"  # a private-use code point no font has: Pillow draws the .notdef box for it
_warned: set[str] = set()  # scripts already warned about in this process
_warned_lock = threading.Lock()
_glyph_lock = threading.Lock()  # Pillow's font objects are shared between the threads that draw


@dataclass(frozen=True)
class Font:
    """The font chosen to draw a text."""

    file: str  # the font file; "" for Pillow's built-in font (or, without fontconfig, none known)
    index: int  # the face in the file (a .ttc collection holds several)
    family: str  # family name, as fontconfig and libass know it
    sha256: str  # digest of the file: part of the cache key of everything drawn with it
    missing: str  # the text's characters it has no glyph for ("" when it covers the text)

    def load(self, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        """The font at `size` pixels, for Pillow."""
        return ImageFont.truetype(self.file, size, index=self.index) if self.file else ImageFont.load_default(size=size)


def font_for(text: str, configured: str | None = None, builtin: bool = True, setting: str = "video.font") -> Font:
    """The font to draw `text` with: `configured` (a font file, or an installed family) when given; else Pillow's
    built-in font when `builtin` is allowed and covers the text; else the first installed font, in fontconfig's
    order of preference for sans-serif with regular upright faces first, that has a glyph for every letter, digit
    and punctuation mark of the text. When none covers it: the one that misses fewest, and a warning, once per
    script per process, naming the fix (`setting` is the config key that names a font). The digest is of the file
    as it is now (a font replaced on disk is hashed again); the choice is made once per text and process."""
    file, index, family, missing = _choose(text, configured, builtin, setting)
    return Font(file, index, family, _font_digest(file, *_stamp(file)) if family else "", missing)


@lru_cache(maxsize=4096)
def _choose(text: str, configured: str | None, builtin: bool, setting: str) -> tuple[str, int, str, str]:
    """(file, face index, family, characters it lacks) of the font for `text`: see `font_for`."""
    chars = sorted(_drawn(text), key=lambda c: (c.isascii(), c))  # the rarer characters first: misses show early
    candidates = [_configured(configured, setting)] if configured else []
    if not configured:
        candidates = ([("", 0, BUILTIN_FONT, None)] if builtin else []) + list(installed_fonts())
    if not candidates:  # no fontconfig: what the renderer finds is unknown here
        return "", 0, "", ""

    def lacks(font: tuple, char: str) -> bool:
        file, index, _, ranges = font
        if ranges is None:
            return not _has_glyph(file, index, char)
        at = bisect.bisect_right(ranges, (ord(char), 0x10FFFF)) - 1
        return at < 0 or ranges[at][1] < ord(char)

    chosen = next((f for f in candidates if not any(lacks(f, c) for c in chars)), None)
    if chosen is None:
        chosen = min(candidates, key=lambda f: sum(lacks(f, c) for c in chars))  # the first of the fewest misses
    missing = "".join(c for c in chars if lacks(chosen, c))
    if missing:
        _warn_missing(missing, configured, setting)
    return chosen[0], chosen[1], chosen[2], missing


def _drawn(text: str) -> set[str]:
    """The characters of `text` a font must have: letters, digits and punctuation. Combining marks are left out:
    Pillow shapes a lone vowel sign onto a dotted circle, so it cannot be tested alone, and a font that has a
    script's letters has its marks."""
    return {c for c in text if unicodedata.category(c)[0] in "LNP"}


@cache
def installed_fonts() -> tuple[tuple[str, int, str, tuple[tuple[int, int], ...]], ...]:
    """(file, face index, family, code point ranges it covers) of every scalable font fontconfig knows, in its order
    of preference for sans-serif text, regular upright faces first. () without fontconfig."""
    if not shutil.which("fc-match"):
        return ()
    fmt = "%{file}\t%{index}\t%{family[0]}\t%{fontformat}\t%{weight}\t%{slant}\t%{width}\t%{charset}\n"
    try:
        out = subprocess.run(["fc-match", "-a", "-f", fmt, "sans-serif"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    fonts = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) != 8 or parts[3] not in ("TrueType", "CFF"):
            continue
        file, index, family, _, weight, slant, width, charset = parts
        ranges = tuple((int(lo, 16), int(hi or lo, 16)) for lo, _, hi in (r.partition("-") for r in charset.split()))
        fonts.append(((weight, slant, width) != ("80", "0", "100"), len(fonts), (file, int(index or 0), family, ranges)))
    return tuple(font for *_, font in sorted(fonts))


def _configured(value: str, setting: str) -> tuple[str, int, str, None]:
    """A font named in config: a font file, or the installed family fontconfig matches to the name."""
    path = Path(value).expanduser()
    if path.is_file():
        try:
            return str(path), 0, ImageFont.truetype(str(path), 16).getname()[0] or path.stem, None
        except OSError as exc:
            raise ConfigError(f"{setting}={value} is not a font Pillow can read ({exc}).", "name a TTF or OTF file.") from exc
    match = _fontconfig_match(value)
    if match is None:
        raise ConfigError(
            f"{setting}={value} is neither a font file nor a family fontconfig knows.", "name a TTF or OTF file by its path."
        )
    return *match, None


@cache
def _fontconfig_match(family: str) -> tuple[str, int, str] | None:
    """(file, face index, family) of the installed font fontconfig gives for `family`; None without fontconfig."""
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(
            ["fc-match", "-f", "%{file}\t%{index}\t%{family[0]}", family], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    file, _, rest = out.partition("\t")
    index, _, name = rest.partition("\t")
    return (file, int(index or 0), name) if file else None


@lru_cache(maxsize=65536)
def _has_glyph(file: str, index: int, char: str) -> bool:
    """Whether the font draws `char` with a glyph of its own: not the .notdef box it draws for a character it
    lacks, nor nothing at all."""
    with _glyph_lock:
        font = _pillow_font(file, index)
        mask, notdef = font.getmask(char), font.getmask(_NOT_A_CHARACTER)
    if mask.getbbox() is None:
        return False
    return not (mask.size == notdef.size and bytes(mask) == bytes(notdef))


@cache
def _pillow_font(file: str, index: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(file, 32, index=index) if file else ImageFont.load_default(size=32)


def _stamp(file: str) -> tuple[int, int]:
    """(size, modification time) of a font file, so a font replaced on disk is hashed again."""
    try:
        st = os.stat(file)
    except OSError:
        return 0, 0
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=256)
def _font_digest(file: str, size: int, mtime_ns: int) -> str:
    """sha256 of a font file; of the bytes of Pillow's own font for ""."""
    if not file:
        return hashlib.sha256(getattr(ImageFont.load_default(size=32), "font_bytes", b"Pillow bitmap font")).hexdigest()
    with open(file, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def script_of(char: str) -> str:
    """The script of a letter, as the first word of its Unicode name ("DEVANAGARI", "LATIN", "CJK")."""
    return unicodedata.name(char, "UNKNOWN").split()[0]


def _warn_missing(missing: str, configured: str | None, setting: str) -> None:
    """Say once per script per process that the font lacks its letters, with the package to install and the
    settings that name a font."""
    scripts = sorted({script_of(c) for c in missing if unicodedata.category(c)[0] == "L"}) or ["PUNCTUATION"]
    with _warned_lock:
        new = [s for s in scripts if s not in _warned]
        _warned.update(new)
    if not new:
        return
    packages = " ".join(sorted({FONT_PACKAGES.get(s, "fonts-noto-core") for s in new}))
    log.warning(
        "%s glyphs for the %s characters of this story (%s): cards and burned-in subtitles show them as empty boxes. "
        "Fix: apt-get install %s%s, or name a font file that covers them: video.font=/path/to/font.ttf "
        "(compositor.font=<family> for burned-in subtitles).",
        f"The font {setting}={configured} has no" if configured else "No installed font has",
        " and ".join(s if s == "CJK" else s.title() for s in new),
        " ".join(missing[:8]),
        packages,
        "" if packages == "fonts-noto-core" else " (or fonts-noto-core)",
    )
