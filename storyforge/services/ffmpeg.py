"""Finding and running ffmpeg, and probing media without ffprobe (the imageio-ffmpeg wheel ships none).

ffmpeg comes from the `imageio-ffmpeg` wheel unless `STORYFORGE_FFMPEG` names another binary. `ffmpeg()` runs
it without blocking the event loop. Every ffmpeg is a child of the run (storyforge/engine/children.py): in a
process group of its own, killed at once when the run is cancelled (a cancelled job, Ctrl-C, a stopping server)
or its server dies, so no ffmpeg outlives the work that started it.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import anyio

from storyforge.engine import children
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
        proc = children.run(cmd, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise FFmpegError(
            f"ffmpeg ran past its {timeout_s:.0f} s limit.", "raise compositor.timeout_s, or report the hang."
        ) from exc
    if proc.returncode != 0:
        raise _failure(cmd, proc.returncode, proc.stderr.decode("utf-8", "replace"), log_file)


def _failure(cmd: list[str], code: int, stderr: str, log_file: Path | None) -> FFmpegError:
    lines = stderr.strip().splitlines()  # the first lines say what went wrong, the rest what followed from it
    tail = "\n".join(lines[:3]) + (f"\n... ({len(lines) - 3} more lines)" if len(lines) > 3 else "")
    if log_file is not None:
        log_file.write_text(" ".join(cmd) + "\n\n" + stderr, encoding="utf-8")
    if "No space left on device" in stderr:
        return FFmpegError(
            "the disk is full: ffmpeg could not write its output.",
            "free some space (storyforge-cache gc drops what no run refers to) or point cache.dir at a larger disk; "
            "the same command then resumes.",
        )
    return FFmpegError(
        f"ffmpeg failed (exit {code}): {tail or 'no output'}",
        f"see {log_file} for the full command and log." if log_file else "",
    )


async def ffmpeg(
    args: list[str],
    log_file: Path | None = None,
    timeout_s: float | None = None,
    loglevel: str = "error",
    cwd: Path | None = None,
) -> str:
    """`run_ffmpeg` for async code: the event loop stays free, and cancelling the caller (or the timeout) kills
    ffmpeg's whole process group before this returns. Returns what ffmpeg wrote to stderr."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", loglevel, "-y", *args]
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a chatty ffmpeg can never block on it
        try:
            with anyio.fail_after(timeout_s):
                code = await children.wait_process(cmd, stderr=err, cwd=cwd)
        except TimeoutError:
            raise FFmpegError(
                f"ffmpeg ran past its {timeout_s:.0f} s limit.", "raise compositor.timeout_s, or report the hang."
            ) from None
        err.seek(0)
        report = err.read().decode("utf-8", "replace")
    if code != 0:
        raise _failure(cmd, code, report, log_file)
    return report


def probe(path: Path) -> dict:
    """Duration and streams of a media file, read from `ffmpeg -i`'s report."""
    report = children.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]).stderr.decode("utf-8", "replace")
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


LOUDNESS_ARGS = ["-map", "0:a:0", "-af", "ebur128=framelog=quiet", "-f", "null", "-"]


def integrated(report: str) -> float | None:
    """The integrated loudness (LUFS) in an ebur128 report; None when there is none."""
    found = re.findall(r"I:\s+(-?[\d.]+|-inf) LUFS", report)
    return None if not found else float(found[-1]) if found[-1] != "-inf" else -70.0


def integrated_loudness(path: Path, log_file: Path, timeout_s: float | None = None) -> float:
    """Integrated loudness (EBU R128, LUFS) of a file's audio, measured by ffmpeg's ebur128 filter."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), *LOUDNESS_ARGS]
    proc = children.run(cmd, timeout=timeout_s)
    report = proc.stderr.decode("utf-8", "replace")
    measured = integrated(report)
    if proc.returncode != 0 or measured is None:
        log_file.write_text(" ".join(cmd) + "\n\n" + report, encoding="utf-8")
        raise FFmpegError("ffmpeg's loudness measurement failed.", f"see {log_file}.")
    return measured
