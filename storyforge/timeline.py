"""The timeline as data: when each shot plays, where its narration sits, and the subtitle cues.

Computed before any media work, so it is testable without ffmpeg. Shot lengths are whole frames, so the
video's length is exactly the sum of its shots.
"""

from __future__ import annotations

import math
import textwrap

from storyforge.models import NarrationClip, Shot, SubtitleCue, Timeline, TimelineEntry

MAX_LINE = 42  # characters per subtitle line
MAX_LINES = 2  # lines per cue


def frames(seconds: float, fps: int) -> int:
    return max(1, math.ceil(round(seconds * fps, 6)))


def build_timeline(
    shots: list[Shot],
    narration: dict[str, NarrationClip],
    width: int,
    height: int,
    fps: int,
    lead_in_s: float = 0.3,
    tail_s: float = 0.5,
) -> Timeline:
    """Each shot lasts max(planned duration, lead-in + its narration + tail), rounded up to whole frames."""
    entries, start_frame = [], 0
    for shot in shots:
        clip = narration.get(shot.id)
        spoken = clip.duration_s if clip else 0.0
        n = frames(max(shot.duration_s, lead_in_s + spoken + tail_s), fps)
        start = start_frame / fps
        entries.append(
            TimelineEntry(
                shot_id=shot.id,
                scene_index=shot.scene_index,
                start_s=round(start, 6),
                duration_s=round(n / fps, 6),
                narration_start_s=round(start + lead_in_s, 6),
                narration_duration_s=spoken,
                text=clip.text if clip else "",
            )
        )
        start_frame += n
    cues = [cue for e in entries for cue in cues_for(e)]
    return Timeline(entries=entries, cues=cues, duration_s=round(start_frame / fps, 6), width=width, height=height, fps=fps)


def cues_for(entry: TimelineEntry) -> list[SubtitleCue]:
    """Split one narration into cues of at most 2 lines of 42 characters, timed by their share of the text."""
    if not entry.text.strip() or entry.narration_duration_s <= 0:
        return []
    lines = textwrap.wrap(entry.text, MAX_LINE, break_long_words=True)
    chunks = ["\n".join(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
    total = sum(len(c) for c in chunks)
    cues, t = [], entry.narration_start_s
    for chunk in chunks:
        length = entry.narration_duration_s * len(chunk) / total
        cues.append(SubtitleCue(start_s=round(t, 3), end_s=round(t + length, 3), text=chunk))
        t += length
    return cues


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(cues: list[SubtitleCue]) -> str:
    return "".join(f"{i}\n{_stamp(c.start_s, ',')} --> {_stamp(c.end_s, ',')}\n{c.text}\n\n" for i, c in enumerate(cues, 1))


def to_vtt(cues: list[SubtitleCue]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_stamp(c.start_s, '.')} --> {_stamp(c.end_s, '.')}\n{c.text}\n\n" for c in cues)
