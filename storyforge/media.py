"""Small media helpers shared by stages and services: WAV I/O with the standard library and numpy."""

from __future__ import annotations

import mimetypes
import shutil
import subprocess
import wave
from functools import cache
from pathlib import Path

import numpy as np


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


def media_type(path: Path) -> str:
    return (
        {".wav": "audio/wav", ".srt": "application/x-subrip"}.get(path.suffix)
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


@cache
def system_font(language: str) -> tuple[str, str] | None:
    """(file, family) of an installed font that covers `language` (ISO 639-1), found with fontconfig; None
    when fontconfig is missing or no font covers it (e.g. `apt-get install fonts-lohit-deva` for Hindi)."""
    if not shutil.which("fc-list"):
        return None
    try:
        out = subprocess.run(
            ["fc-list", f":lang={language}", "file", "family"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    fonts = sorted(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    return (fonts[0][0], fonts[0][1].split(",")[0].strip()) if fonts else None
