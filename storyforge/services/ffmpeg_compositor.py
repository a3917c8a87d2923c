"""`compositor=ffmpeg`: the timeline rendered by one ffmpeg filter graph per output.

Three ffmpeg runs, all driven by the `Timeline`:
1. the audio mix: narration placed on its shots; the music bed made loop-seamless (its tail crossfaded into its
   head), looped or trimmed to the video, faded in and out, and ducked under the narration with
   `sidechaincompress`; beside it, in the same run, `ducking.wav`: the music as it went into the mix next to
   the same music had it not been ducked (storyforge/quality.py measures the ducking depth from it);
2. an EBU R128 (`ebur128`) measuring pass over that mix. We measure with ebur128 and apply the exact gain
   rather than run `loudnorm` twice: loudnorm resamples to 192 kHz and cost 18 s of a 46 s render here, and
   in its linear mode it applies a constant gain anyway;
3. the video: Ken Burns motion on stills (upscaled first so the motion does not jitter), clips trimmed, slowed or
   held to fit their slot, `xfade` crossfades within a scene and fades through black between scenes, subtitles
   as a soft track (or burned in), the mix brought to the target loudness with the gain measured in pass 2 and
   a true-peak limiter, H.264/AAC with `+faststart`. The filter graph is written next to the output for debugging.
"""

from __future__ import annotations

import math
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import numpy as np

from storyforge import text as tx
from storyforge.engine.contract import Service, knob
from storyforge.errors import StoryforgeError
from storyforge.media import system_font, write_wav
from storyforge.models import ModelProvider, Motion, MusicTrack, NarrationClip, ShotVisual, Timeline, Transition
from storyforge.quality import DUCKING_WAV
from storyforge.services.ffmpeg import integrated_loudness, probe, run_ffmpeg


def seamless_loop(src: Path, out: Path, crossfade_s: float) -> Path:
    """The track with its last `crossfade_s` seconds faded into its first: looping it then has no seam."""
    with wave.open(str(src), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise StoryforgeError(
            f"music file {src.name} is {8 * width}-bit; the compositor reads 16-bit WAV.", "convert it to 16-bit PCM."
        )
    data = np.frombuffer(raw, "<i2").astype(np.float64).reshape(-1, channels) / 32767
    n = min(int(crossfade_s * rate), len(data) // 2)
    if n < 2:
        return src
    ramp = np.linspace(0.0, 1.0, n)[:, None]
    body = data[: len(data) - n].copy()
    body[:n] = body[:n] * ramp + data[len(data) - n :] * (1 - ramp)  # equal-gain crossfade of tail into head
    return write_wav(out, body, rate)


class FFmpegCompositor(Service):
    provider = ModelProvider.ffmpeg

    class Params(Service.Params):
        max_concurrency: int = knob(1, "Encodes at once (each uses every core)")
        timeout_s: float = knob(3600.0, "Longest an encode may take before it counts as hung")
        preset: str = "veryfast"  # x264 preset: ultrafast ... veryslow
        crf: int = 23  # x264 quality (lower is better)
        audio_bitrate: str = "160k"  # AAC bitrate
        sample_rate: int = 48000  # Hz of the mixed audio
        upscale: float = 1.5  # stills are scaled up by this before Ken Burns motion, against jitter
        scaler: str = "bicubic"  # swscale algorithm for resizing: bicubic, bilinear, fast_bilinear, lanczos
        music_gain_db: float = -14.0  # music bed level before ducking
        music_fade_in_s: float = 1.5  # fade at the start of the video
        music_fade_out_s: float = 3.0  # fade at the end of the video
        loop_crossfade_s: float = 1.0  # crossfade at the music's loop point
        duck_threshold: float = 0.002  # sidechain level (linear) above which the music is ducked
        duck_ratio: float = 20.0  # compression ratio under narration (deep: the floor below sets the depth)
        duck_depth_db: float = 15.0  # how far the music sits under narration: a floor this much quieter is not ducked
        stem_rate: int = 8000  # Hz of ducking.wav (music as mixed | not ducked), kept to measure the ducking depth
        duck_attack_ms: float = 20.0  # how fast the music dips when narration starts
        duck_release_ms: float = 400.0  # how fast it comes back after narration ends
        loudness_lufs: float = -16.0  # integrated loudness target of the final mix
        true_peak_db: float = -1.5  # true-peak ceiling
        font: str | None = None  # font family for burned-in subtitles; None: one that covers the script (fontconfig)
        font_size: int = 18  # burned-in subtitle size (libass units at 288p; scales with the video)

    async def compose(
        self,
        timeline: Timeline,
        visuals: dict[str, ShotVisual],
        narration: dict[str, NarrationClip],
        music: MusicTrack | None,
        subtitles: Path | None,
        out: Path,
        burn_subtitles: bool = False,
        graph_file: Path | None = None,
        log_dir: Path | None = None,
    ) -> float:
        def work() -> float:
            log = (log_dir or out.parent) / "ffmpeg-error.log"
            mix, picture = out.with_name("mix.wav"), out.with_name("picture.mp4")
            loop = None
            if music is not None:
                loop = Path(music.audio.path)  # a track made to the video's length (per-scene score) is used as it is
                if music.loopable:
                    loop = seamless_loop(loop, out.with_name("music_loop.wav"), self.params.loop_crossfade_s)
            stem = out.with_name(DUCKING_WAV) if loop is not None else None
            audio_args, audio_graph = self.audio_command(timeline, narration, loop, mix, stem)
            clip_lengths = {sid: probe(Path(v.media.path))["duration"] for sid, v in visuals.items() if v.is_clip}
            video_args, video_graph = self.video_command(
                timeline, visuals, clip_lengths, subtitles if burn_subtitles else None, picture
            )
            if graph_file is not None:
                graph_file.write_text(f"# audio mix\n{audio_graph}\n\n# video\n{video_graph}\n", encoding="utf-8")

            def mix_and_measure() -> float:
                run_ffmpeg(audio_args, log, self.params.timeout_s)
                return integrated_loudness(mix, log, self.params.timeout_s)

            with ThreadPoolExecutor(1) as pool:  # the audio mix and its loudness measurement run beside the video encode
                audio = pool.submit(mix_and_measure)
                run_ffmpeg(video_args, log, self.params.timeout_s)
                measured = audio.result()
            run_ffmpeg(
                self.mux_command(timeline, picture, mix, measured, None if burn_subtitles else subtitles, out),
                log,
                self.params.timeout_s,
            )
            return probe(out)["duration"]

        return await anyio.to_thread.run_sync(work, limiter=self.limiter)

    # -- audio -------------------------------------------------------------------------------------------------

    def audio_command(
        self, tl: Timeline, narration: dict[str, NarrationClip], music: Path | None, out: Path, stem: Path | None = None
    ) -> tuple[list[str], str]:
        """The mix into `out`; with music and a `stem` path, also the music stem (see `DUCKING_WAV`) into it."""
        p, d = self.params, tl.duration_s
        stem_args: list[str] = []
        fmt = f"aresample={p.sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
        inputs: list[str] = []
        graph: list[str] = []
        voices = []
        for entry in tl.entries:
            clip = narration.get(entry.shot_id)
            if clip is None:
                continue
            i = inputs.count("-i")
            inputs += ["-i", str(clip.audio.path)]
            graph.append(f"[{i}:a]{fmt},adelay={round(entry.narration_start_s * 1000)}:all=1[n{i}]")
            voices.append(f"[n{i}]")
        if voices:
            graph.append(
                f"{''.join(voices)}amix=inputs={len(voices)}:normalize=0,apad=whole_dur={d},atrim=duration={d},asplit=2[voice][sc]"
            )
        else:
            graph.append(f"anullsrc=r={p.sample_rate}:cl=stereo,atrim=duration={d},asplit=2[voice][sc]")
        if music is not None:
            i = inputs.count("-i")
            inputs += ["-i", str(music)]
            with wave.open(str(music), "rb") as w:
                loop_samples = math.ceil(w.getnframes() / w.getframerate() * p.sample_rate)
            fade_out = min(p.music_fade_out_s, d / 3)
            graph.append(
                f"[{i}:a]{fmt},aloop=loop=-1:size={loop_samples},atrim=duration={d},volume={p.music_gain_db}dB,"
                f"afade=t=in:d={min(p.music_fade_in_s, d / 3):.3f},afade=t=out:st={d - fade_out:.3f}:d={fade_out:.3f},"
                f"asplit={3 if stem else 2}[bed][floor]{'[bare]' if stem else ''}"
            )
            # the bed is split into a part the sidechain ducks, (1 - floor) of it, and a floor that stays: together
            # they are the bed itself without narration, and the floor alone (duck_depth_db lower) under it
            floor = 10 ** (-p.duck_depth_db / 20)
            graph.append(
                f"[bed]volume={1 - floor:.6f}[duckable];[duckable][sc]sidechaincompress=threshold={p.duck_threshold}:"
                f"ratio={p.duck_ratio}:attack={p.duck_attack_ms}:release={p.duck_release_ms}[ducked]"
            )
            graph.append(f"[floor]volume={floor:.6f}[under]")
            graph.append(f"[ducked][under]amix=inputs=2:normalize=0{',asplit=2[music][wet]' if stem else '[music]'}")
            graph.append(f"[voice][music]amix=inputs=2:normalize=0,atrim=duration={d}[aout]")
            if stem is not None:  # the music as mixed | the bed as it would have been without ducking, each in mono
                mono = "pan=mono|c0=0.5*c0+0.5*c1"
                graph.append(f"[wet]{mono}[wetm];[bare]{mono}[drym]")
                graph.append(f"[wetm][drym]join=inputs=2:channel_layout=stereo,aresample={p.stem_rate},atrim=duration={d}[stem]")
                stem_args = ["-map", "[stem]", "-c:a", "pcm_s16le", str(stem)]
        else:
            graph.append("[sc]anullsink;[voice]anull[aout]")
        text = ";".join(graph)
        return [
            *inputs,
            "-filter_complex",
            text,
            "-map",
            "[aout]",
            "-c:a",
            "pcm_s16le",
            "-ar",
            str(p.sample_rate),
            str(out),
            *stem_args,
        ], text

    # -- video -------------------------------------------------------------------------------------------------

    def _still(self, i: int, tl: Timeline, entry) -> str:
        p, w, h, fps = self.params, tl.width, tl.height, tl.fps
        n = round(entry.duration_s * fps)
        cover = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1"
        if entry.motion == Motion.none:
            return f"[{i}:v]{cover},format=yuv420p,loop=loop={n - 1}:size=1,setpts=N/{fps}/TB[v{i}]"
        big_w, big_h = 2 * round(w * p.upscale / 2), 2 * round(h * p.upscale / 2)
        z, last = entry.zoom, max(n - 1, 1)
        progress = f"on/{last}"
        zoom = {Motion.zoom_in: f"1+{z - 1:.4f}*{progress}", Motion.zoom_out: f"{z:.4f}-{z - 1:.4f}*{progress}"}.get(
            entry.motion, f"{z:.4f}"
        )
        cx, cy = "(iw-iw/zoom)/2", "(ih-ih/zoom)/2"
        x = {Motion.pan_left: f"(iw-iw/zoom)*(1-{progress})", Motion.pan_right: f"(iw-iw/zoom)*{progress}"}.get(entry.motion, cx)
        y = {Motion.pan_up: f"(ih-ih/zoom)*(1-{progress})", Motion.pan_down: f"(ih-ih/zoom)*{progress}"}.get(entry.motion, cy)
        return (
            f"[{i}:v]scale={big_w}:{big_h}:force_original_aspect_ratio=increase,crop={big_w}:{big_h},setsar=1,"
            f"zoompan=z='{zoom}':x='{x}':y='{y}':d={n}:s={w}x{h}:fps={fps},format=yuv420p,setpts=N/{fps}/TB[v{i}]"
        )

    def _clip(self, i: int, tl: Timeline, entry, length: float) -> str:
        w, h, fps = tl.width, tl.height, tl.fps
        n = round(entry.duration_s * fps)
        fit = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1,fps={fps},format=yuv420p"
        # too long: trimmed; a little short: slowed down; much too short: the last frame held (tpad)
        slightly_short = length < entry.duration_s <= length * 1.5
        stretch = f"setpts={entry.duration_s / length:.5f}*PTS,fps={fps}," if slightly_short else ""
        return f"[{i}:v]{fit},{stretch}tpad=stop_mode=clone:stop=-1,trim=end_frame={n},setpts=N/{fps}/TB[v{i}]"

    def video_command(
        self, tl: Timeline, visuals: dict[str, ShotVisual], clip_lengths: dict[str, float], burn: Path | None, out: Path
    ) -> tuple[list[str], str]:
        """The picture: every shot's still or clip, joined by its transition; subtitles burned in when given."""
        p = self.params
        inputs: list[str] = []
        graph: list[str] = []
        for i, entry in enumerate(tl.entries):
            visual = visuals[entry.shot_id]
            inputs += ["-i", str(visual.media.path)]
            graph.append(self._clip(i, tl, entry, clip_lengths[entry.shot_id]) if visual.is_clip else self._still(i, tl, entry))
        acc = "[v0]"
        for i, entry in enumerate(tl.entries[1:], start=1):
            if entry.transition_in == Transition.cut or entry.transition_s <= 0:
                # concat's output counts in microseconds; back to 1/fps so a later xfade sees matching time bases
                graph.append(f"{acc}[v{i}]concat=n=2:v=1:a=0,settb=1/{tl.fps}[x{i}]")
            else:
                kind = "fadeblack" if entry.transition_in == Transition.fade_black else "fade"
                graph.append(
                    f"{acc}[v{i}]xfade=transition={kind}:duration={entry.transition_s:.6f}:offset={entry.start_s:.6f}[x{i}]"
                )
            acc = f"[x{i}]"
        burn_filter = ""
        if burn is not None:
            font = p.font or (system_font(tx.language(burn.read_text(encoding="utf-8"))) or ("", ""))[1]
            style = f"FontSize={p.font_size}" + (f",FontName={font}" if font else "")
            burn_filter = f",subtitles=filename='{_escape(burn)}':force_style='{style}'"
        graph.append(f"{acc}null{burn_filter}[vout]")
        text = ";".join(graph)
        args = [
            *inputs, "-filter_complex", text, "-sws_flags", p.scaler, "-map", "[vout]", "-an",
            "-c:v", "libx264", "-preset", p.preset, "-crf", str(p.crf), "-r", str(tl.fps), "-pix_fmt", "yuv420p",
            "-t", f"{tl.duration_s:.6f}", str(out),
        ]  # fmt: skip
        return args, text

    def mux_command(
        self, tl: Timeline, picture: Path, mix: Path, measured_lufs: float, subtitles: Path | None, out: Path
    ) -> list[str]:
        """Picture (copied) + the mix at the loudness target (exact gain, then a true-peak limiter) + soft subtitles."""
        p = self.params
        gain = max(-40.0, min(40.0, p.loudness_lufs - measured_lufs))
        inputs, maps = ["-i", str(picture), "-i", str(mix)], ["-map", "0:v", "-map", "1:a"]
        if subtitles is not None:
            inputs += ["-i", str(subtitles)]
            maps += ["-map", "2:s", "-c:s", "mov_text", "-metadata:s:s:0", "language=und"]
        return [
            *inputs, *maps, "-c:v", "copy",
            "-af", f"volume={gain:.2f}dB,alimiter=limit={10 ** (p.true_peak_db / 20):.4f}:attack=5:release=50:level=0",
            "-c:a", "aac", "-b:a", p.audio_bitrate, "-ar", str(p.sample_rate),
            "-movflags", "+faststart", "-t", f"{tl.duration_s:.6f}", str(out),
        ]  # fmt: skip


def _escape(path: Path) -> str:
    """A path quoted for use inside a filter argument."""
    return str(path).replace("\\", "\\\\").replace("'", r"\'").replace(":", r"\:")
