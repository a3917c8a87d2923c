"""Compositor speed: one 12-shot, ~45 s, 720p timeline rendered side by side in one run by
- the segment compositor (compositor=ffmpeg: every shot body and transition rendered on its own, in parallel,
  the sound mixed beside them, then joined by stream copy; cold, nothing cached),
- MoviePy (the baseline: one process renders the whole film), and
- the encode floor: a plain ffmpeg re-encode of the finished video with the same codec settings.

Targets: the segment compositor <= 1.0x the encode floor, and >= 8x faster than MoviePy.

    python benchmarks/compose.py [--preset veryfast] [--fps 24] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from storyforge.media import wav_duration
from storyforge.models import Artifact, MusicTrack, NarrationClip, Shot, ShotType, ShotVisual
from storyforge.services.audio.music.synth import SynthMusic
from storyforge.services.audio.tts.tone import ToneTTS
from storyforge.services.compositor.ffmpeg import FFmpegCompositor
from storyforge.services.compositor.moviepy import MoviePyCompositor
from storyforge.services.ffmpeg import probe, run_ffmpeg
from storyforge.services.video.storyboard import StoryboardVideo
from storyforge.timeline import build_timeline

SENTENCE = "The little paper boat sailed across the harbour while the gulls circled high above the lighthouse."


async def inputs(tmp: Path, width: int, height: int):
    shots = [
        Shot(scene_index=s, index=i, shot_type=list(ShotType)[(s + i) % 6], camera=["slow push in", "pan left", "static", "pan right"][i - 1],
             description=f"Scene {s}, shot {i}: {SENTENCE}", narration=" ".join(SENTENCE.split()[: 8 + i]), duration_s=3.0)
        for s in range(1, 4) for i in range(1, 5)
    ]  # fmt: skip
    board, tts = StoryboardVideo(width=width, height=height), ToneTTS()
    visuals, clips = {}, {}
    for shot in shots:
        png = await board.render(shot, shot.scene_index, "", 0, tmp / shot.id)
        visuals[shot.id] = ShotVisual(shot_id=shot.id, media=Artifact(name=png.name, media_type="image/png", path=png))
        wav = await tts.speak(shot.narration, "en", 0, tmp / f"{shot.id}.wav")
        clips[shot.id] = NarrationClip(
            shot_id=shot.id,
            text=shot.narration,
            audio=Artifact(name=wav.name, media_type="audio/wav", path=wav),
            duration_s=wav_duration(wav),
        )
    music_wav = await SynthMusic().compose("calm", 0, tmp / "music.wav")
    music = MusicTrack(
        audio=Artifact(name="music.wav", media_type="audio/wav", path=music_wav), duration_s=wav_duration(music_wav)
    )
    return shots, visuals, clips, music


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-moviepy", action="store_true", help="time only the segment compositor and the floor")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shots, visuals, clips, music = anyio.run(inputs, tmp, args.width, args.height)
        tl = build_timeline(shots, clips, args.width, args.height, args.fps)
        srt = tmp / "subs.srt"
        srt.write_text("")
        ffmpeg, moviepy = FFmpegCompositor(preset=args.preset), MoviePyCompositor(preset=args.preset)
        out_ff, out_mp, out_floor = tmp / "ffmpeg.mp4", tmp / "moviepy.mp4", tmp / "floor.mp4"

        def render(comp, out):
            return lambda: anyio.run(lambda: comp.compose(tl, visuals, clips, music, None, out, log_dir=tmp))

        floor_args = ["-i", str(out_ff), "-c:v", "libx264", "-preset", args.preset, "-crf", str(ffmpeg.params.crf), "-pix_fmt", "yuv420p",
                      "-c:a", "aac", "-b:a", ffmpeg.params.audio_bitrate, "-movflags", "+faststart", str(out_floor)]  # fmt: skip
        render(ffmpeg, out_ff)()  # warm-up, untimed: the ffmpeg binary and the modules into the page cache
        t_ff, t_mp, t_floor = [], [], []
        for _ in range(args.repeat):
            t_ff.append(timed(render(ffmpeg, out_ff)))
            t_floor.append(timed(lambda: run_ffmpeg(floor_args)))
            if not args.skip_moviepy:
                t_mp.append(timed(render(moviepy, out_mp)))
        ff, floor = statistics.median(t_ff), statistics.median(t_floor)
        print(
            f"timeline: {len(tl.entries)} shots, {tl.duration_s:.1f} s, {args.width}x{args.height} @ {args.fps} fps, x264 preset {args.preset}"
        )
        print(f"segment compositor: {ff:7.2f} s  ({probe(out_ff)['duration']:.2f} s of video, {os.cpu_count()} cores)")
        print(f"encode floor:       {floor:7.2f} s")
        if t_mp:
            mp = statistics.median(t_mp)
            print(f"moviepy:            {mp:7.2f} s  ({probe(out_mp)['duration']:.2f} s of video)")
            print(f"moviepy / segments:      {mp / ff:5.2f}x  (target >= 8x: {'met' if mp / ff >= 8 else 'missed'})")
        ratio = ff / floor
        print(f"segments / encode floor: {ratio:5.2f}x  (target <= 1.0x: {'met' if ratio <= 1.0 else 'missed'})")


if __name__ == "__main__":
    main()
