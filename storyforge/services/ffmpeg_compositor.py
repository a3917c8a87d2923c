"""`compositor=ffmpeg`: the timeline rendered by one ffmpeg filter graph.

This first compositor places each still (or clip) for its slot, concatenates them, lays each narration clip at
its time, loops a quiet music bed under it, and muxes a soft subtitle track. Transitions, Ken Burns motion,
ducking and loudness normalisation are issue 2's richer compositor, which replaces this service.
"""

from __future__ import annotations

import math
from pathlib import Path

import anyio

from storyforge.engine.contract import Service, knob
from storyforge.models import ModelProvider, MusicTrack, NarrationClip, ShotVisual, Timeline
from storyforge.services.ffmpeg import probe, run_ffmpeg


class FFmpegCompositor(Service):
    provider = ModelProvider.ffmpeg

    class Params(Service.Params):
        max_concurrency: int = knob(1, "Encodes at once (each uses every core)")
        timeout_s: float = knob(3600.0, "Longest an encode may take before it counts as hung")
        preset: str = "veryfast"  # x264 preset: ultrafast ... veryslow
        crf: int = 23  # x264 quality (lower is better)
        audio_bitrate: str = "160k"  # AAC bitrate
        music_gain_db: float = -18.0  # music bed level under the narration
        sample_rate: int = 48000  # Hz of the mixed audio

    async def compose(
        self,
        timeline: Timeline,
        visuals: dict[str, ShotVisual],
        narration: dict[str, NarrationClip],
        music: MusicTrack | None,
        subtitles: Path | None,
        out: Path,
    ) -> float:
        p = self.params
        args = self.command(timeline, visuals, narration, music, subtitles, out)
        await anyio.to_thread.run_sync(run_ffmpeg, args, out.with_name("ffmpeg-error.log"), p.timeout_s, limiter=self.limiter)
        return await anyio.to_thread.run_sync(lambda: probe(out)["duration"])

    def command(
        self,
        timeline: Timeline,
        visuals: dict[str, ShotVisual],
        narration: dict[str, NarrationClip],
        music: MusicTrack | None,
        subtitles: Path | None,
        out: Path,
    ) -> list[str]:
        p, tl = self.params, timeline
        inputs: list[str] = []
        graph: list[str] = []
        fit = f"scale={tl.width}:{tl.height}:force_original_aspect_ratio=decrease,pad={tl.width}:{tl.height}:(ow-iw)/2:(oh-ih)/2,setsar=1"
        for i, entry in enumerate(tl.entries):
            visual = visuals[entry.shot_id]
            n = round(entry.duration_s * tl.fps)
            inputs += ["-i", str(visual.media.path)]
            if visual.is_clip:  # trim to the slot, or hold the last frame
                graph.append(
                    f"[{i}:v]{fit},fps={tl.fps},format=yuv420p,tpad=stop_mode=clone:stop=-1,trim=end_frame={n},setpts=N/{tl.fps}/TB[v{i}]"
                )
            else:  # decode once, then repeat the frame: far cheaper than looping the input
                graph.append(f"[{i}:v]{fit},format=yuv420p,loop=loop={n - 1}:size=1,setpts=N/{tl.fps}/TB[v{i}]")
        graph.append("".join(f"[v{i}]" for i in range(len(tl.entries))) + f"concat=n={len(tl.entries)}:v=1:a=0[vout]")

        voices = []
        for entry in tl.entries:
            clip = narration.get(entry.shot_id)
            if clip is None:
                continue
            idx = inputs.count("-i")
            inputs += ["-i", str(clip.audio.path)]
            ms = round(entry.narration_start_s * 1000)
            graph.append(f"[{idx}:a]aresample={p.sample_rate},aformat=channel_layouts=stereo,adelay={ms}:all=1[n{idx}]")
            voices.append(f"[n{idx}]")
        bus = voices[:]
        if music is not None:
            idx = inputs.count("-i")
            inputs += ["-i", str(music.audio.path)]
            loop = (
                f"aloop=loop=-1:size={math.ceil(music.duration_s * p.sample_rate)}"  # loop decoded audio: the input stays finite
            )
            graph.append(
                f"[{idx}:a]aresample={p.sample_rate},aformat=channel_layouts=stereo,{loop},volume={p.music_gain_db}dB,"
                f"atrim=duration={tl.duration_s}[bed]"
            )
            bus.append("[bed]")
        if bus:
            graph.append(
                f"{''.join(bus)}amix=inputs={len(bus)}:normalize=0:duration=longest,apad=whole_dur={tl.duration_s},atrim=duration={tl.duration_s}[aout]"
            )
        else:
            graph.append(f"anullsrc=r={p.sample_rate}:cl=stereo,atrim=duration={tl.duration_s}[aout]")

        sub_args: list[str] = []
        if subtitles is not None:
            sub_idx = inputs.count("-i")
            inputs += ["-i", str(subtitles)]
            sub_args = ["-map", f"{sub_idx}:s", "-c:s", "mov_text", "-metadata:s:s:0", "language=und"]
        return [
            *inputs,
            "-filter_complex",
            ";".join(graph),
            "-map",
            "[vout]",
            "-map",
            "[aout]",
            *sub_args,
            "-c:v",
            "libx264",
            "-preset",
            p.preset,
            "-tune",
            "stillimage",
            "-crf",
            str(p.crf),
            "-r",
            str(tl.fps),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            p.audio_bitrate,
            "-ar",
            str(p.sample_rate),
            "-movflags",
            "+faststart",
            "-t",
            f"{tl.duration_s:.6f}",
            str(out),
        ]
