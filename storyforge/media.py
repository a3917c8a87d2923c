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
