"""Quality figures every run's manifest carries, so experiments can be compared on more than speed:
loudness of the final mix, ducking depth, how far subtitles sit from the narration, how much of the story is
narrated, and whether every character named in a shot's narration is in its picture prompt."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from storyforge import rules
from storyforge.models import ShotList, Story, Video

log = logging.getLogger("storyforge")


def _first(values: list[Any], kind: type) -> Any:
    return next((v for v in values if isinstance(v, kind)), None)


def quality_figures(outputs: list[Any], run_dir: Path, config: dict) -> dict[str, float | None]:
    """The figures the outputs allow (a recipe without a video has no loudness)."""
    story, shots, video = _first(outputs, Story), _first(outputs, ShotList), _first(outputs, Video)
    figures: dict[str, float | None] = {}
    if story is not None and shots is not None:
        figures["story_narrated"] = round(rules.coverage(story.text, [s.narration for s in shots.shots]), 4)
        cast = {n: c.name for c in story.characters for n in [c.name, *c.aliases]}
        named = [(s, {cast[n] for n in cast if n in s.narration}) for s in shots.shots]
        figures["names_in_prompts"] = round(sum(who <= set(s.characters) for s, who in named) / max(1, len(named)), 4)
    if video is not None:
        figures["scenes"] = len({e.scene_index for e in video.timeline.entries})
        figures["shots"] = len(video.timeline.entries)
        figures["video_s"] = video.duration_s
        figures["subtitle_offset_s"] = subtitle_offset(video)
        figures["duck_depth_db"] = duck_depth(config.get("compositor") or {})
        mp4 = run_dir / video.mp4.name
        if mp4.is_file():
            from storyforge.services.ffmpeg import FFmpegError, integrated_loudness

            try:
                figures["loudness_lufs"] = round(integrated_loudness(mp4, run_dir / "loudness-error.log"), 2)
            except FFmpegError as exc:
                log.warning("could not measure the loudness of %s: %s", mp4.name, exc)
    return figures


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


def duck_depth(compositor: dict) -> float | None:
    """The ducking depth the compositor used: its config value, else its Params default."""
    if "duck_depth_db" in compositor:
        return compositor["duck_depth_db"]
    try:
        from hydra.utils import get_class

        return getattr(get_class(compositor["_target_"]).Params(), "duck_depth_db", None)
    except Exception:
        return None
