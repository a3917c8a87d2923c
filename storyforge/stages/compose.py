"""`Compose`: shots, pictures, narration and music -> the timeline, subtitles (SRT and WebVTT) and the MP4.

The timeline is computed here, as data, before any media work; the compositor service only renders it. A
compositor that leaves the music stem `ducking.wav` beside the MP4 has it kept among the video's extras, for
the measured ducking depth (storyforge/quality.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.media import read_wav, resample, write_wav
from storyforge.models import Artifact, MusicTrack, NarrationClip, ShotList, ShotVisual, Timeline, Transition, Video
from storyforge.quality import DUCKING_WAV
from storyforge.timeline import Transitions, build_timeline, to_srt, to_vtt


class Compose(Stage):
    uses = ("compositor",)
    export = "video.json"
    version = "2"  # 2: the music stem (ducking.wav) among the extras

    class Params(Params):
        width: int = 1280  # output frame width
        height: int = 720  # output frame height
        fps: int = 24  # output frame rate
        lead_in_s: float = 0.3  # silence before a shot's narration starts
        tail_s: float = 0.5  # silence after it ends, before the next shot
        within_scene: Transition = Transition.crossfade  # cut | crossfade | fade_black between shots of a scene
        between_scenes: Transition = Transition.fade_black  # ... and between scenes
        crossfade_s: float = 0.5  # length of a crossfade
        fade_black_s: float = 1.0  # length of a fade through black
        ken_burns: bool = True  # pan and zoom over stills
        burn_subtitles: bool = False  # draw subtitles into the picture (the soft track is always there)
        music_crossfade_s: float = 2.0  # with per-scene music: crossfade between scene beds

    async def run(
        self, ctx: RunContext, shots: ShotList, visuals: list[ShotVisual], narration: list[NarrationClip], music: MusicTrack
    ) -> Video:
        p = self.params
        clips = {c.shot_id: c for c in narration}
        transitions = Transitions(p.within_scene, p.between_scenes, p.crossfade_s, p.fade_black_s)
        timeline = build_timeline(shots.shots, clips, p.width, p.height, p.fps, p.lead_in_s, p.tail_s, transitions, p.ken_burns)
        srt, vtt, graph, mp4 = (ctx.path(n) for n in ("subtitles.srt", "subtitles.vtt", "filtergraph.txt", "final.mp4"))
        if music is not None and music.beds:
            music = scene_score(timeline, music, p.music_crossfade_s, ctx.path("music_score.wav"))
        srt.write_text(to_srt(timeline.cues), encoding="utf-8")
        vtt.write_text(to_vtt(timeline.cues), encoding="utf-8")
        duration = await self.compositor.compose(
            timeline, {v.shot_id: v for v in visuals}, clips, music, srt, mp4,
            burn_subtitles=p.burn_subtitles, graph_file=graph, log_dir=ctx.run_dir,
        )  # fmt: skip
        extras = [Artifact(name=graph.name, media_type="text/plain", path=graph)] if graph.exists() else []
        if music is not None and not music.loopable:
            extras.append(music.audio)  # the per-scene score as mixed
        if (stem := mp4.with_name(DUCKING_WAV)).exists():
            extras.append(Artifact(name=stem.name, media_type="audio/wav", path=stem))  # music as mixed | not ducked
        return Video(
            mp4=Artifact(name="final.mp4", media_type="video/mp4", path=mp4),
            subtitles=Artifact(name="subtitles.srt", media_type="application/x-subrip", path=srt),
            webvtt=Artifact(name="subtitles.vtt", media_type="text/vtt", path=vtt),
            extras=extras,
            timeline=timeline,
            duration_s=round(duration, 3),
        )


def scene_score(timeline: Timeline, music: MusicTrack, crossfade_s: float, out: Path) -> MusicTrack:
    """One track from per-scene beds: each scene's bed looped under its scenes from their first shot, faded
    into the next scene's bed over `crossfade_s` (equal power) where the mood changes."""
    beds = {mood: read_wav(a.path) for mood, a in music.beds.items()}
    rate = max(r for _, r in beds.values())
    stereo = {m: resample(s if s.ndim == 2 else np.stack([s, s], axis=1), r, rate) for m, (s, r) in beds.items()}
    starts: dict[int, float] = {}
    for entry in timeline.entries:
        starts.setdefault(entry.scene_index, entry.start_s)
    runs: list[tuple[str, float]] = []  # (mood, start) where the mood changes
    for scene, start in sorted(starts.items()):
        mood = music.scene_moods.get(scene, music.mood)
        if not runs or runs[-1][0] != mood:
            runs.append((mood, start))
    total = int(timeline.duration_s * rate)
    track = np.zeros((total, 2), dtype=np.float32)
    fade = int(crossfade_s * rate)
    for i, (mood, start) in enumerate(runs):
        begin = int(start * rate)
        end = min(total, int(runs[i + 1][1] * rate) + fade if i + 1 < len(runs) else total)
        bed = stereo[mood]
        piece = np.resize(bed, (end - begin, 2)) if len(bed) else np.zeros((end - begin, 2))  # looped to length
        gain = np.ones(len(piece))
        if i > 0:
            gain[:fade] = np.sin(np.linspace(0, np.pi / 2, min(fade, len(piece))))
        if i + 1 < len(runs):
            gain[-fade:] = np.cos(np.linspace(0, np.pi / 2, min(fade, len(piece))))
        track[begin:end] += piece * gain[:, None]
    write_wav(out, track, rate)
    audio = Artifact(name="music_score.wav", media_type="audio/wav", path=out)
    return MusicTrack(audio=audio, duration_s=round(total / rate, 4), loopable=False, mood=music.mood)
