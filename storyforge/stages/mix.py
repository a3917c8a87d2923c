"""`Mix`: the edit's timeline, narration and music -> the film's sound (AAC at the loudness target), with the
music stem the ducking depth is measured from (storyforge/quality.py) and, with per-scene music, the score.

It reads only when narration plays and where scenes start: a new picture or camera move leaves the sound a cache
hit. Its cost grows linearly with the clips (the compositor lays the narration into one track, then ducks and
normalises once).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.media import read_wav, resample
from storyforge.models import Artifact, Edit, MusicTrack, NarrationClip, Soundtrack, Timeline
from storyforge.quality import DUCKING_WAV

BLOCK = 1 << 18  # samples written at a time: memory stays flat however long the film


class Mix(Stage):
    uses = ("compositor",)
    # when narration plays and where scenes start: a new picture or camera move leaves the sound a cache hit
    reads = {
        "edit": {
            "timeline": {"duration_s": True, "entries": {"__all__": {"shot_id", "scene_index", "start_s", "narration_start_s"}}}
        }
    }

    class Params(Params):
        music_crossfade_s: float = 2.0  # with per-scene music: crossfade between scene beds

    async def run(self, ctx: RunContext, edit: Edit, narration: list[NarrationClip], music: MusicTrack) -> Soundtrack:
        timeline, extras = edit.timeline, []
        bed, loopable = (None, True) if music is None else (Path(music.audio.path), music.loopable)
        if music is not None and music.beds:
            bed, loopable = scene_score(timeline, music, self.params.music_crossfade_s, ctx.path("music_score.wav")), False
            extras.append(Artifact(name="music_score.wav", media_type="audio/wav", path=bed))
        out, stem = ctx.path("mix.m4a"), ctx.path(DUCKING_WAV)
        measured, delivered = await self.compositor.mix(
            timeline, {c.shot_id: c for c in narration}, bed, loopable, out, stem,
            graph_file=ctx.path("filtergraph.txt"), log_dir=ctx.run_dir,
        )  # fmt: skip
        if stem.exists():
            extras.append(Artifact(name=DUCKING_WAV, media_type="audio/wav", path=stem))  # music as mixed | not ducked
        extras.append(Artifact(name="filtergraph.txt", media_type="text/plain", path=ctx.path("filtergraph.txt")))
        audio = Artifact(name="mix.m4a", media_type="audio/mp4", path=out)
        return Soundtrack(
            audio=audio, duration_s=timeline.duration_s, measured_lufs=round(measured, 2), loudness_lufs=round(delivered, 2),
            extras=extras,
        )  # fmt: skip

    def report(self, output: Soundtrack) -> dict:
        return {"measured_lufs": output.measured_lufs, "loudness_lufs": output.loudness_lufs, "seconds": output.duration_s}


def scene_score(timeline: Timeline, music: MusicTrack, crossfade_s: float, out: Path) -> Path:
    """One track from per-scene beds: each scene's bed looped under its scenes from their first shot, faded
    into the next scene's bed over `crossfade_s` (equal power) where the mood changes. Written block by block."""
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
    total, fade = int(timeline.duration_s * rate), int(crossfade_s * rate)
    spans = []  # (mood, first sample, end sample, fades in, fades out)
    for i, (mood, start) in enumerate(runs):
        end = min(total, int(runs[i + 1][1] * rate) + fade) if i + 1 < len(runs) else total
        spans.append((mood, int(start * rate), end, i > 0, i + 1 < len(runs)))
    with wave.open(str(out), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        for block in range(0, total, BLOCK):
            stop = min(total, block + BLOCK)
            track = np.zeros((stop - block, 2), dtype=np.float32)
            for mood, begin, end, fades_in, fades_out in spans:
                lo, hi = max(begin, block), min(end, stop)
                bed = stereo[mood]
                if lo >= hi or not len(bed):
                    continue
                k = np.arange(lo - begin, hi - begin)  # position inside this run
                ramp = max(min(fade, end - begin) - 1, 1)
                gain = np.ones(len(k))
                if fades_in:
                    gain = np.where(k < fade, np.sin(np.pi / 2 * np.minimum(k, ramp) / ramp), gain)
                if fades_out:
                    back = (end - begin) - 1 - k  # samples before the run's end
                    gain = np.where(back < fade, gain * np.sin(np.pi / 2 * np.minimum(back, ramp) / ramp), gain)
                track[lo - block : hi - block] += bed[k % len(bed)] * gain[:, None]
            w.writeframes((np.clip(track, -1, 1) * 32767).astype("<i2").tobytes())
    return out
