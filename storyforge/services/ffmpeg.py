"""Finding and running ffmpeg, and probing media without ffprobe (the imageio-ffmpeg wheel ships none).

ffmpeg comes from the `imageio-ffmpeg` wheel unless `STORYFORGE_FFMPEG` names another binary.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

from storyforge.errors import StoryforgeError


class FFmpegError(StoryforgeError):
    """ffmpeg exited non-zero; the message carries the tail of its stderr."""


@cache
def ffmpeg_exe() -> str:
    if exe := os.environ.get("STORYFORGE_FFMPEG"):
        return exe
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], log_file: Path | None = None, timeout_s: float | None = None) -> None:
    """Run ffmpeg quietly; on failure raise FFmpegError with the last lines of stderr (also saved to log_file)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(
            f"ffmpeg ran past its {timeout_s:.0f} s limit.", "raise compositor.timeout_s, or report the hang."
        ) from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        if log_file is not None:
            log_file.write_text(" ".join(cmd) + "\n\n" + proc.stderr, encoding="utf-8")
        raise FFmpegError(
            f"ffmpeg failed (exit {proc.returncode}): {tail or 'no output'}",
            f"see {log_file} for the full command and log." if log_file else "",
        )


def probe(path: Path) -> dict:
    """Duration and streams of a media file, read from `ffmpeg -i`'s report."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True, errors="replace"
    )
    report = proc.stderr
    m = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", report)
    duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else 0.0
    streams = []
    for line in re.findall(r"Stream #\d+:\d+.*", report):
        kind = re.search(r": (Video|Audio|Subtitle|Data): (\w+)", line)
        if not kind:
            continue
        stream = {"type": kind[1].lower(), "codec": kind[2]}
        if size := re.search(r", (\d{2,5})x(\d{2,5})", line):
            stream["width"], stream["height"] = int(size[1]), int(size[2])
        if fps := re.search(r", ([\d.]+) fps", line):
            stream["fps"] = float(fps[1])
        if rate := re.search(r", (\d+) Hz", line):
            stream["sample_rate"] = int(rate[1])
        streams.append(stream)
    return {"duration": duration, "streams": streams}


def integrated_loudness(path: Path, log_file: Path, timeout_s: float | None = None) -> float:
    """Integrated loudness (EBU R128, LUFS) of a file's audio, measured by ffmpeg's ebur128 filter."""
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-af",
        "ebur128=framelog=quiet",
        "-f",
        "null",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s)
    found = re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", proc.stderr)
    if proc.returncode != 0 or not found:
        log_file.write_text(" ".join(cmd) + "\n\n" + proc.stderr, encoding="utf-8")
        raise FFmpegError("ffmpeg's loudness measurement failed.", f"see {log_file}.")
    return float(found[-1]) if found[-1] != "-inf" else -70.0
