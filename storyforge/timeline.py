"""The timeline as data: when each shot plays, where its narration sits, and the subtitle cues.

Computed before any media work, so it is testable without ffmpeg. Shot lengths and transitions are whole
frames, so the video's length is exactly the sum of its shots less their overlaps.
"""

from __future__ import annotations

import hashlib
import math
import textwrap
from dataclasses import dataclass

from storyforge.models import (
    Motion,
    NarrationClip,
    Piece,
    PieceSource,
    Shot,
    ShotVisual,
    SubtitleCue,
    Timeline,
    TimelineEntry,
    Transition,
)

MAX_LINE = 42  # characters per subtitle line
MAX_LINES = 2  # lines per cue


def frames(seconds: float, fps: int) -> int:
    return max(1, math.ceil(round(seconds * fps, 6)))


@dataclass(frozen=True)
class Transitions:
    """Which transition joins two shots, and how long it lasts."""

    within_scene: Transition = Transition.crossfade
    between_scenes: Transition = Transition.fade_black
    crossfade_s: float = 0.5
    fade_black_s: float = 1.0

    def between(self, previous: Shot | None, shot: Shot) -> tuple[Transition, float]:
        if previous is None:
            return Transition.none, 0.0
        kind = self.within_scene if previous.scene_index == shot.scene_index else self.between_scenes
        return kind, {Transition.crossfade: self.crossfade_s, Transition.fade_black: self.fade_black_s}.get(kind, 0.0)


def motion_for(shot: Shot) -> tuple[Motion, float]:
    """Ken Burns movement from the shot's camera note, varied deterministically by shot id where it says nothing."""
    h = int(hashlib.sha256(shot.id.encode()).hexdigest()[:8], 16)
    zoom = round(1.08 + (h % 13) / 100, 2)  # 1.08 .. 1.20: speed varies from shot to shot
    camera = shot.camera.lower()
    for words, motion in (
        (("push in", "zoom in", "dolly in"), Motion.zoom_in),
        (("pull out", "pull back", "zoom out", "dolly out"), Motion.zoom_out),
        (("pan left",), Motion.pan_left),
        (("pan right",), Motion.pan_right),
        (("tilt up", "crane up"), Motion.pan_up),
        (("tilt down", "crane down"), Motion.pan_down),
    ):
        if any(w in camera for w in words):
            return motion, zoom
    choices = [Motion.zoom_in, Motion.zoom_out, Motion.pan_left, Motion.pan_right]
    return choices[(h >> 8) % len(choices)], zoom


def build_timeline(
    shots: list[Shot],
    narration: dict[str, NarrationClip],
    width: int,
    height: int,
    fps: int,
    lead_in_s: float = 0.3,
    tail_s: float = 0.5,
    transitions: Transitions | None = None,
    ken_burns: bool = True,
) -> Timeline:
    """Each shot lasts max(planned duration, lead-in + its narration + tail), in whole frames, and overlaps the
    previous shot by its transition. Narration starts after the transition in, so voices never overlap."""
    transitions = transitions or Transitions()
    joins = [transitions.between(shots[i - 1] if i else None, shot) for i, shot in enumerate(shots)]
    overlap = [frames(t, fps) if t > 0 else 0 for _, t in joins] + [0]
    entries, start_frame = [], 0
    for i, shot in enumerate(shots):
        clip = narration.get(shot.id)
        spoken = clip.duration_s if clip else 0.0
        lead = max(lead_in_s, overlap[i] / fps)
        n = max(frames(max(shot.duration_s, lead + spoken + tail_s), fps), overlap[i] + overlap[i + 1] + 1)
        start_frame -= overlap[i]
        start = start_frame / fps
        motion, zoom = motion_for(shot) if ken_burns else (Motion.none, 1.0)
        entries.append(
            TimelineEntry(
                shot_id=shot.id,
                scene_index=shot.scene_index,
                start_s=round(start, 6),
                duration_s=round(n / fps, 6),
                transition_in=joins[i][0],
                transition_s=round(overlap[i] / fps, 6),
                motion=motion,
                zoom=zoom,
                narration_start_s=round(start + lead, 6),
                narration_offset_s=round(lead, 6),
                narration_duration_s=spoken,
                text=clip.text if clip else "",
            )
        )
        start_frame += n
    cues = [cue for e in entries for cue in cues_for(e)]
    return Timeline(entries=entries, cues=cues, duration_s=round(start_frame / fps, 6), width=width, height=height, fps=fps)


def shot_cues(entry: TimelineEntry) -> list[SubtitleCue]:
    """One narration split into cues of at most 2 lines of 42 characters, timed by their share of the text, in
    the shot's own time (0 = the shot starts): the same cues wherever the shot sits in the film."""
    if not entry.text.strip() or entry.narration_duration_s <= 0:
        return []
    lines = textwrap.wrap(entry.text, MAX_LINE, break_long_words=True)
    chunks = ["\n".join(lines[i : i + MAX_LINES]) for i in range(0, len(lines), MAX_LINES)]
    total = sum(len(c) for c in chunks)
    cues, t = [], entry.narration_offset_s
    for chunk in chunks:
        length = entry.narration_duration_s * len(chunk) / total
        cues.append(SubtitleCue(start_s=t, end_s=t + length, text=chunk))
        t += length
    return cues


def cues_for(entry: TimelineEntry) -> list[SubtitleCue]:
    """The shot's cues in video time."""
    return [
        SubtitleCue(start_s=round(entry.start_s + c.start_s, 3), end_s=round(entry.start_s + c.end_s, 3), text=c.text)
        for c in shot_cues(entry)
    ]


def plan_pieces(timeline: Timeline, visuals: dict[str, ShotVisual], burn_subtitles: bool = False) -> list[Piece]:
    """The film's picture as pieces in play order: each shot's body (its slot less the transitions at its ends)
    and, where two shots overlap, the transition rendered from the edges of both. Cuts need no piece. With
    `burn_subtitles`, each piece carries the cues that fall inside it, in its own time."""
    fps, entries = timeline.fps, timeline.entries
    slot = [round(e.duration_s * fps) for e in entries]
    into = [round(e.transition_s * fps) for e in entries] + [0]  # frames shared with the shot before

    def piece(pid: str, transition: Transition, frames: int, sources: list[tuple[int, int]]) -> Piece:
        cues = []
        for i, first in sources if burn_subtitles else ():
            window_start, window_end = first / fps, (first + frames) / fps
            for c in shot_cues(entries[i]):
                start, end = max(c.start_s, window_start), min(c.end_s, window_end)
                if end - start > 0.0005:
                    cues.append(
                        SubtitleCue(start_s=round(start - window_start, 3), end_s=round(end - window_start, 3), text=c.text)
                    )
        return Piece(
            id=pid,
            transition=transition,
            frames=frames,
            sources=[
                PieceSource(
                    media=visuals[entries[i].shot_id].media,
                    is_clip=visuals[entries[i].shot_id].is_clip,
                    motion=entries[i].motion,
                    zoom=entries[i].zoom,
                    slot_frames=slot[i],
                    first_frame=first,
                )
                for i, first in sources
            ],
            width=timeline.width,
            height=timeline.height,
            fps=fps,
            cues=sorted(cues, key=lambda c: c.start_s),
        )

    pieces = []
    for i, entry in enumerate(entries):
        if into[i]:
            before = entries[i - 1].shot_id
            pieces.append(
                piece(f"{before}-{entry.shot_id}", entry.transition_in, into[i], [(i - 1, slot[i - 1] - into[i]), (i, 0)])
            )
        pieces.append(piece(entry.shot_id, Transition.none, slot[i] - into[i] - into[i + 1], [(i, into[i])]))
    return pieces


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
