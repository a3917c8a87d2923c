"""The timeline as data: when each shot plays, where its narration sits, and the subtitle cues.

Computed before any media work, so it is testable without ffmpeg. Shot lengths and transitions are whole
frames, so the video's length is exactly the sum of its shots less their overlaps. A narrated shot lasts as
long as its speech (plus lead-in, tail and the plan's silent beat); the plan's duration sets only the length of
shots without narration. Also here: the part of a frame every Ken Burns move keeps in view (`safe_area`), where
picture makers put what must stay visible.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import unicodedata
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

HIGHLIGHT = '<font color="#FFD23F">{}</font>'  # the spoken word, burned in (SRT markup that libass draws)
MAX_LINE = 42  # characters per subtitle line (columns: a wide CJK character counts two, a combining mark none)
MAX_LINES = 2  # lines per cue (one more only where that saves a cue shorter than MIN_CUE_S)
MIN_CUE_S = 0.8  # shortest time a cue is on screen: a shorter one is merged into its neighbour
PAUSE_SNAP_S = 1.0  # a cue boundary moves to a pause in the speech at most this far from where the text puts it
MIN_ZOOM, MAX_ZOOM = 1.08, 1.20  # Ken Burns zoom over a still, varied from shot to shot (speed of the move)
SENTENCE_ENDS = ".!?…।॥。！？"  # a cue may end here at no cost
CLAUSE_ENDS = ",;:—–、，；："  # ... or here, at a small one (also before a word that starts with a dash)
CLOSERS = "\"'”’»)]}"  # closing quotes and brackets after a sentence's last mark


def frames(seconds: float, fps: int) -> int:
    return max(1, math.ceil(round(seconds * fps, 6)))


@dataclass(frozen=True)
class Transitions:
    """Which transition joins two shots, and how long it lasts: the shot's own (an edit's), else the recipe's."""

    within_scene: Transition = Transition.crossfade
    between_scenes: Transition = Transition.fade_black
    crossfade_s: float = 0.5
    fade_black_s: float = 1.0

    def between(self, previous: Shot | None, shot: Shot) -> tuple[Transition, float]:
        if previous is None:
            return Transition.none, 0.0
        kind = shot.transition or (self.within_scene if previous.scene_index == shot.scene_index else self.between_scenes)
        return kind, {Transition.crossfade: self.crossfade_s, Transition.fade_black: self.fade_black_s}.get(kind, 0.0)


def motion_for(shot: Shot) -> tuple[Motion, float]:
    """Ken Burns movement from the shot's camera note, varied deterministically by shot id where it says nothing."""
    h = int(hashlib.sha256(shot.id.encode()).hexdigest()[:8], 16)
    steps = round((MAX_ZOOM - MIN_ZOOM) * 100) + 1  # zooms from MIN_ZOOM to MAX_ZOOM in hundredths
    zoom = round(MIN_ZOOM + (h % steps) / 100, 2)  # speed varies from shot to shot
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


def safe_area(width: int, height: int, zoom: float = MAX_ZOOM) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the part of a `width` x `height` picture that every Ken Burns move with a zoom
    up to `zoom` keeps in view for the whole shot. The view is 1/zoom of each side: a zoom holds it in the middle,
    a pan carries it from one edge to the other, so what stays in view throughout is the middle (2/zoom - 1) of
    each side (two thirds at 1.2)."""
    keep = 2 / zoom - 1
    dx, dy = math.ceil(width * (1 - keep) / 2), math.ceil(height * (1 - keep) / 2)
    return dx, dy, width - dx, height - dy


def narrated(clip: NarrationClip | None) -> bool:
    """Whether a clip has speech: some audio and some words."""
    return clip is not None and clip.duration_s > 0 and any(c.isalnum() for c in clip.text)


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
    captions: str = "sentence",
    highlight: bool = False,
) -> Timeline:
    """A shot with narration lasts lead-in + its speech + tail + the plan's silent beat (`shot.hold_s`), so a
    voice that reads faster than planned leaves no dead air; a shot without narration lasts its planned duration.
    In whole frames, never fewer than its transitions need, and overlapping the previous shot by its transition.
    Narration starts after the transition in (the lead-in is at least that long), so voices never overlap."""
    transitions = transitions or Transitions()
    joins = [transitions.between(shots[i - 1] if i else None, shot) for i, shot in enumerate(shots)]
    overlap = [frames(t, fps) if t > 0 else 0 for _, t in joins] + [0]
    entries, start_frame = [], 0
    for i, shot in enumerate(shots):
        clip = narration.get(shot.id)
        spoken = clip.duration_s if clip else 0.0
        lead = max(lead_in_s, overlap[i] / fps)
        if narrated(clip):
            seconds = lead + spoken + tail_s + shot.hold_s
        else:  # silent, or a clip without words: the plan's length, with room for whatever the clip holds
            seconds = max(shot.duration_s, lead + spoken + tail_s)
        n = max(frames(seconds, fps), overlap[i] + overlap[i + 1] + 1)
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
                pauses=list(clip.pauses) if clip else [],
                words=list(clip.words) if clip else [],
            )
        )
        start_frame += n
    columns = line_columns(width, height)
    cues = [cue for e in entries for cue in cues_for(e, captions, columns)]
    return Timeline(entries=entries, cues=cues, duration_s=round(start_frame / fps, 6), width=width, height=height, fps=fps,
                    captions=captions, highlight=highlight)  # fmt: skip


def line_columns(width: int, height: int) -> int:
    """The longest subtitle line for a frame: MAX_LINE on a 16:9 frame or wider, fewer on narrower ones (the font
    scales with the frame's height, so a vertical frame has room for a third of the columns), never under 16."""
    return max(16, round(MAX_LINE * min(1.0, width / max(1, height) / (16 / 9))))


def word_starts(entry: TimelineEntry, text: _Words) -> list[float] | None:
    """When each piece of the narration's text (`text`, its `_Words`: a word, or a long word's pieces) starts to be
    heard, from the voice's word timings, in narration time; None where the voice gave none for this text."""
    if not entry.words or len(entry.words) != len(entry.text.split()):
        return None
    out = []
    for token, k, n in text.pieces:
        w = entry.words[token]
        out.append(round(w.start_s + (w.end_s - w.start_s) * k / n, 6))
    return out


def shot_cues(
    entry: TimelineEntry, captions: str = "sentence", highlight: bool = False, columns: int = MAX_LINE
) -> list[SubtitleCue]:
    """`sentence_cues`, or with `captions="words"` and the voice's word timings, the same cues starting when
    their first word is heard; with `highlight` too, a cue per word showing its cue's text with that word marked
    (for burning in)."""
    text = _Words(entry.text, columns)
    starts = word_starts(entry, text) if captions == "words" else None
    if starts is None:
        return sentence_cues(entry, columns)
    if not text.words or entry.narration_duration_s <= 0:
        return []
    offset, end = entry.narration_offset_s, entry.narration_offset_s + entry.narration_duration_s
    spans = text.cues(entry.narration_duration_s)
    times = [offset + (starts[i] if k else 0.0) for k, (i, _) in enumerate(spans)] + [end]
    for k in range(1, len(times)):  # never backwards, never past the narration's end
        times[k] = round(min(end, max(times[k], times[k - 1])), 6)
    cues = []
    for k, (i, j) in enumerate(spans):
        if not highlight:
            cues.append(SubtitleCue(start_s=times[k], end_s=times[k + 1], text=text.lines(i, j)))
            continue
        edges = [times[k], *(min(times[k + 1], max(times[k], offset + starts[m])) for m in range(i + 1, j)), times[k + 1]]
        cues += [SubtitleCue(start_s=round(a, 6), end_s=round(b, 6), text=text.lines(i, j, mark=m))
                 for m, (a, b) in zip(range(i, j), itertools.pairwise(edges), strict=True) if b - a > 0.0005]  # fmt: skip
    return [c for c in cues if c.end_s - c.start_s > 0.0005]


def sentence_cues(entry: TimelineEntry, columns: int = MAX_LINE) -> list[SubtitleCue]:
    """One narration as cues in the shot's own time (0 = the shot starts): the same cues wherever the shot sits in
    the film. The text is cut into cues of at most 2 lines of `columns` (42 on a 16:9 frame: `line_columns`), at
    sentence ends where it can be, else at commas, semicolons, colons and dashes, and only then between other
    words; no cue shows for less than 0.8 s where the narration is that long (a third line is allowed rather than
    a shorter cue). A boundary between cues sits where the text's share of the narration puts it, moved to the
    nearest pause in the speech (`entry.pauses`) within 1 s. The cues cover the narration exactly, in order."""
    text, spans, times = sentence_plan(entry, columns)
    return [SubtitleCue(start_s=times[k], end_s=times[k + 1], text=text.lines(i, j)) for k, (i, j) in enumerate(spans)]


def sentence_plan(entry: TimelineEntry, columns: int = MAX_LINE) -> tuple[_Words, list[tuple[int, int]], list[float]]:
    """`sentence_cues` as data: the words, each cue's range of them, and the boundaries (shot time)."""
    text = _Words(entry.text, columns)
    if not text.words or entry.narration_duration_s <= 0:
        return text, [], [entry.narration_offset_s]
    spans = text.cues(entry.narration_duration_s)
    times = text.boundaries(spans, entry.narration_offset_s, entry.narration_duration_s, entry.pauses)
    while len(spans) > 1:  # a pause may have left a cue too short: merge it into its narrower neighbour
        short = min(range(len(spans)), key=lambda k: times[k + 1] - times[k])
        if times[short + 1] - times[short] >= MIN_CUE_S:
            break
        before = text.width(*spans[short - 1]) if short > 0 else math.inf
        after = text.width(*spans[short + 1]) if short < len(spans) - 1 else math.inf
        k = short if after < before else short - 1  # spans k and k + 1 become one
        spans[k : k + 2] = [(spans[k][0], spans[k + 1][1])]
        del times[k + 1]
    return text, spans, times


def sentence_offsets(entry: TimelineEntry, columns: int = MAX_LINE) -> list[float]:
    """How far each sentence cue's start (after the first) is from when the voice says its first word starts:
    seconds, one per boundary; [] without word timings."""
    text, spans, times = sentence_plan(entry, columns)
    starts = word_starts(entry, text)
    if starts is None:
        return []
    return [round(abs(times[k] - entry.narration_offset_s - starts[i]), 4) for k, (i, _) in enumerate(spans) if k]


class _Words:
    """A narration as words, with their widths and the cost of a break after each, for cutting it into cues."""

    def __init__(self, text: str, columns: int = MAX_LINE) -> None:
        self.columns = columns  # the longest line
        self.words: list[tuple[str, str]] = []  # (separator before it, word)
        self.pieces: list[tuple[int, int, int]] = []  # per word: (token of text.split(), piece k, of n pieces)
        for token, word in enumerate(text.split()):
            parts = [word]
            if _width(word) > columns:  # text without spaces: cut after its punctuation, then every `columns`
                parts = [p for p in re.split(f"(?<=[{re.escape(SENTENCE_ENDS + CLAUSE_ENDS)}])", word) if p]
                parts = [piece for p in parts for piece in _cut(p, columns)]
            self.words += [(" " if k == 0 else "", p) for k, p in enumerate(parts)]
            self.pieces += [(token, k, len(parts)) for k in range(len(parts))]
        self.ends = [0]  # ends[k]: columns of the first k words, with a separator before each
        for sep, word in self.words:
            self.ends.append(self.ends[-1] + len(sep) + _width(word))
        self.cost = [
            _break_cost(w, self.words[k + 1][1] if k + 1 < len(self.words) else "") for k, (_, w) in enumerate(self.words)
        ]

    def width(self, i: int, j: int) -> int:
        """Columns of words i..j-1 on one line."""
        return self.ends[j] - self.ends[i] - len(self.words[i][0])

    def breaks(self, i: int, j: int) -> list[int]:
        """Where words i..j-1 break into lines of at most `columns`: nowhere when they fit one; in two where
        both fit, at punctuation first and then where they are most even; else as often as it takes."""
        if self.width(i, j) <= self.columns:
            return []
        two = [
            (self.cost[k - 1], abs(self.width(i, k) - self.width(k, j)), k)
            for k in range(i + 1, j)
            if self.width(i, k) <= self.columns and self.width(k, j) <= self.columns
        ]
        if two:
            return [min(two)[2]]
        breaks, first = [], i
        for k in range(i + 1, j):
            if self.width(first, k + 1) > self.columns:
                breaks.append(k)
                first = k
        return breaks

    def lines(self, i: int, j: int, mark: int | None = None) -> str:
        """Words i..j-1 as a cue's text, its lines joined by newlines; word `mark` highlighted (HIGHLIGHT)."""
        edges = [i, *self.breaks(i, j), j]
        shown = [HIGHLIGHT.format(w) if k == mark else w for k, (_, w) in enumerate(self.words)]
        return "\n".join(
            "".join(shown[k] if k == a else self.words[k][0] + shown[k] for k in range(a, b))
            for a, b in itertools.pairwise(edges)
        )

    def cues(self, seconds: float) -> list[tuple[int, int]]:
        """The cheapest cut of the words into cues (ranges of words). A cue costs the break it ends at, half of
        each of its line breaks', a little for each sentence end inside it (a sentence to a cue where they last),
        more for a third line, and most for lasting less than MIN_CUE_S at the narration's columns per second."""
        n, per_column = len(self.words), seconds / max(1, self.width(0, len(self.words)))
        best: list[tuple[float, int]] = [(0.0, 0)] + [(math.inf, 0)] * n  # cost of words[:j], where its last cue starts
        for j in range(1, n + 1):
            for i in range(j - 1, -1, -1):
                breaks = self.breaks(i, j)
                if len(breaks) + 1 > MAX_LINES + 1:  # longer cues only have more lines
                    break
                cost = best[i][0] + (self.cost[j - 1] if j < n else 0.0) + sum(self.cost[k - 1] for k in breaks) / 2
                cost += 0.5 * sum(c == 0.0 for c in self.cost[i : j - 1])  # sentence ends inside the cue
                cost += 10.0 if len(breaks) + 1 > MAX_LINES else 0.0  # a third line
                cost += 20.0 if self.width(i, j) * per_column < MIN_CUE_S else 0.0  # too short to read
                if cost < best[j][0]:
                    best[j] = (cost, i)
        spans, j = [], n
        while j > 0:
            spans.append((best[j][1], j))
            j = best[j][1]
        return spans[::-1]

    def boundaries(self, spans: list[tuple[int, int]], start: float, seconds: float, pauses: list[float]) -> list[float]:
        """When each cue starts, and the last one ends: where the text's share of the narration puts it, moved to
        the nearest pause within PAUSE_SNAP_S that leaves both cues beside it MIN_CUE_S (or what the estimate left)."""
        total = max(1, self.width(0, len(self.words)))
        estimates = [start + seconds * min(1.0, self.width(0, j) / total) for _, j in spans]
        heard = sorted(start + p for p in pauses if 0 < p < seconds)
        times = [start]
        for k, estimate in enumerate(estimates[:-1]):
            after = estimates[k + 1]  # where the next boundary (or the end) is expected
            room = max(1e-3, min(MIN_CUE_S, estimate - times[-1], after - estimate))  # and after the last boundary
            near = [p for p in heard if abs(p - estimate) <= PAUSE_SNAP_S and p - times[-1] >= room and after - p >= room]
            times.append(min(near, key=lambda p: abs(p - estimate)) if near else max(estimate, times[-1]))
        return [round(t, 6) for t in [*times, start + seconds]]


def _cut(word: str, columns: int) -> list[str]:
    """A word in pieces of at most `columns`, never parting a character from its combining marks, nor a virama or
    a zero-width joiner from the character after it."""
    pieces, current = [], ""
    for c in word:
        joined = current and (
            unicodedata.category(c)[0] == "M" or unicodedata.combining(current[-1]) == 9 or current[-1] == "\u200d"
        )
        if current and not joined and _width(current + c) > columns:
            pieces.append(current)
            current = ""
        current += c
    return [*pieces, current] if current else pieces


def _width(text: str) -> int:
    """Columns a text takes on screen: a combining mark none, a wide (CJK) character two, others one."""
    return sum(
        0 if unicodedata.category(c) in ("Mn", "Me") else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text
    )


def _break_cost(word: str, after: str) -> float:
    """What a break between `word` and the word `after` it costs: nothing after a sentence, a little after a
    clause or before a dash, most inside a phrase."""
    word = word.rstrip(CLOSERS)
    if word[-1:] in tuple(SENTENCE_ENDS) and not re.fullmatch(r"(Mr|Mrs|Ms|Dr|St|Mt|Jr|Sr)\.", word):
        return 0.0
    if word[-1:] in tuple(CLAUSE_ENDS) or word.endswith("--") or after[:1] in ("—", "–"):
        return 1.0
    return 4.0


def cues_for(entry: TimelineEntry, captions: str = "sentence", columns: int = MAX_LINE) -> list[SubtitleCue]:
    """The shot's cues in video time."""
    return [
        SubtitleCue(start_s=round(entry.start_s + c.start_s, 3), end_s=round(entry.start_s + c.end_s, 3), text=c.text)
        for c in shot_cues(entry, captions, columns=columns)
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
            for c in shot_cues(entries[i], timeline.captions, timeline.highlight, line_columns(timeline.width, timeline.height)):
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
