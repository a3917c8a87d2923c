"""Quality figures every run's manifest carries, so experiments can be compared on more than speed:
loudness of the final mix, ducking depth, how far subtitles sit from the narration, how much of the story is
narrated, whether every character named in a shot's narration is in its picture prompt, and how alike each
character looks from shot to shot (storyforge/stages/identity.py measures it with the video backend's image
encoder; `identity_similarity` is the mean over characters, `identity_by_character` has each one's figures),
and, where the voice says when each word is heard, how far sentence cues sit from the words (`word_offset_*`).

The ducking depth is measured, not read from the config: a compositor that mixes music keeps `ducking.wav`
(`DUCKING_WAV`) among the video's extras, a stereo WAV whose left channel is the music as it went into the
mix (after every gain, fade and ducking) and whose right channel is the same music had it not been ducked.
The depth is how much lower the left sits than the right while narration plays."""

from __future__ import annotations

import logging
import math
import wave
from pathlib import Path
from typing import Any

import numpy as np

from storyforge import rules
from storyforge import text as tx
from storyforge.models import IdentityFigures, ShotList, Story, Video
from storyforge.timeline import line_columns, sentence_offsets

log = logging.getLogger("storyforge")

DUCKING_WAV = "ducking.wav"  # the music stem a compositor keeps beside the video: as mixed | not ducked


def _first(values: list[Any], kind: type) -> Any:
    return next((v for v in values if isinstance(v, kind)), None)


def quality_figures(outputs: list[Any], run_dir: Path) -> dict[str, Any]:
    """The figures the outputs allow (a recipe without a video has no loudness; one without music, no ducking
    depth). Every figure is measured from the outputs."""
    story, shots, video = _first(outputs, Story), _first(outputs, ShotList), _first(outputs, Video)
    figures: dict[str, Any] = {}
    identity = _first(outputs, IdentityFigures)
    if identity is not None and identity.encoder:
        figures |= identity_figures(identity)
    if story is not None and shots is not None:
        figures["story_narrated"] = round(rules.coverage(story.text, [s.narration for s in shots.shots]), 4)
        named = [(s, set(rules.present(story, s.narration))) for s in shots.shots]
        figures["names_in_prompts"] = round(sum(who <= set(s.characters) for s, who in named) / max(1, len(named)), 4)
    if video is not None:
        figures["scenes"] = len({e.scene_index for e in video.timeline.entries})
        figures["shots"] = len(video.timeline.entries)
        figures["video_s"] = video.duration_s
        figures["subtitle_offset_s"] = subtitle_offset(video)
        figures |= word_timing_figures(video)
        stem = next((a for a in video.extras if a.name == DUCKING_WAV), None)
        figures["duck_depth_db"] = duck_depth(video, run_dir / stem.name) if stem is not None else None
        mp4 = run_dir / video.mp4.name
        if video.loudness_lufs is not None:  # measured as the sound was mixed (a long film's audio is not decoded again)
            figures["loudness_lufs"] = video.loudness_lufs
        elif mp4.is_file():
            from storyforge.services.ffmpeg import FFmpegError, integrated_loudness

            try:
                figures["loudness_lufs"] = round(integrated_loudness(mp4, run_dir / "loudness-error.log"), 2)
            except FFmpegError as exc:
                log.warning("could not measure the loudness of %s: %s", mp4.name, exc)
    return figures


def word_timing_figures(video: Video) -> dict[str, Any]:
    """Where the voice says when each word is heard: the share of narrated shots with word timings, and how far
    the sentence cues' starts (placed by the text's share of the speech and its pauses) are from where their
    first words really start, mean and largest, in seconds: what `captions=words` corrects."""
    narrated = [e for e in video.timeline.entries if tx.words(e.text) and e.narration_duration_s > 0]
    timed = [e for e in narrated if e.words]
    if not timed:
        return {}
    columns = line_columns(video.timeline.width, video.timeline.height)
    offsets = [x for e in timed for x in sentence_offsets(e, columns)]
    return {
        "word_timed_shots": round(len(timed) / len(narrated), 4),
        "word_offset_mean_s": round(sum(offsets) / len(offsets), 4) if offsets else 0.0,
        "word_offset_max_s": max(offsets, default=0.0),
    }


def identity_figures(identity: IdentityFigures) -> dict[str, Any]:
    """The identity figures: means over the characters that have them, and each character's."""
    pairs = [c.similarity for c in identity.characters if c.similarity is not None]
    to_portrait = [c.to_portrait for c in identity.characters if c.to_portrait is not None]
    each = {
        c.name: {"similarity": c.similarity, "to_portrait": c.to_portrait, "shots": len(c.shots)} for c in identity.characters
    }
    return {
        "identity_similarity": round(sum(pairs) / len(pairs), 4) if pairs else None,
        "identity_to_portrait": round(sum(to_portrait) / len(to_portrait), 4) if to_portrait else None,
        "identity_conditioned": identity.conditioned,
        "identity_by_character": each,
    }


def subtitle_offset(video: Video) -> float:
    """The largest gap, over shots, between a shot's narration and its subtitle cues (start and end)."""
    worst = 0.0
    for entry in video.timeline.entries:
        start, end = entry.narration_start_s, entry.narration_start_s + entry.narration_duration_s
        mine = [c for c in video.timeline.cues if start - 0.5 <= c.start_s < end]
        if entry.text and mine:
            worst = max(worst, abs(mine[0].start_s - start), abs(mine[-1].end_s - end))
        elif entry.text:
            worst = max(worst, entry.narration_duration_s)  # narration without any cue
    return round(worst, 3)


def duck_depth(video: Video, stem: Path, attack_s: float = 0.1, release_s: float = 0.5) -> float | None:
    """How many dB the music sits lower while narration plays than it would without ducking, measured from the
    compositor's music stem (`DUCKING_WAV`): the RMS of the music as mixed against the RMS of the same music
    not ducked, over every shot's narration span less its first `attack_s` (the music is still dipping) and its
    last `release_s` seconds (a narration clip's trailing silence lets the music come back). None when the
    stem is missing or unreadable, or no span is long enough."""
    try:
        with wave.open(str(stem), "rb") as w:  # read span by span: the stem of a long film need not fit in memory
            if w.getnchannels() != 2 or w.getsampwidth() != 2:
                return None
            rate, total = w.getframerate(), w.getnframes()
            power, count = np.zeros(2), 0
            for e in video.timeline.entries:
                a = round((e.narration_start_s + attack_s) * rate)
                b = min(round((e.narration_start_s + e.narration_duration_s - release_s) * rate), total)
                if b <= a:
                    continue
                w.setpos(a)
                span = np.frombuffer(w.readframes(b - a), "<i2").reshape(-1, 2).astype(np.float64) / 32768
                power += np.square(span).sum(axis=0)
                count += len(span)
    except (OSError, EOFError, ValueError, wave.Error) as exc:
        log.warning("could not read the music stem %s: %s", stem.name, exc)
        return None
    if not count:
        return None
    power /= count  # mean square: as mixed, not ducked
    if power[1] <= 0:
        return None  # no music under the narration to duck
    return round(10 * math.log10(power[1] / max(power[0], 1e-12)), 1)
