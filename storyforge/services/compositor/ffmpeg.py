"""`compositor=ffmpeg`: the film made from pieces rendered on their own, a sound mix, and a stream-copy join.

- **Segments** (`render_segment`): one piece of the film (storyforge/timeline.py `plan_pieces`) per ffmpeg run:
  a shot's body (its still with Ken Burns motion, or its clip trimmed, slowed or held, over the frames of its
  slot the piece shows), or a transition (`xfade` crossfade or fade through black) rendered from the edges of
  its two shots only; subtitles burned in per piece on request, in an installed font that covers their script
  (its file's digest is part of the piece's key: `item_fingerprint`). H.264 at the render size and fps with the same
  encoder settings every time, so every piece is a closed GOP that joins the others without re-encoding. Pieces
  render in parallel, one more at once than the machine has cores (`max_concurrency`): each ffmpeg has
  single-threaded stretches (start-up, decoding the picture, zoompan) that the extra one fills.
- **Sound** (`mix`): the narration laid into one track in Python, clip by clip in play order (memory: one clip;
  time: linear in the clips); then one ffmpeg graph of constant size over two inputs: the music bed made
  loop-seamless (its tail crossfaded into its head), looped or trimmed to the film, faded in and out, ducked
  under the narration with `sidechaincompress`; beside the mix, `ducking.wav`: the music as mixed next to the
  same music had it not been ducked (storyforge/quality.py measures the ducking depth from it). The mix is
  measured with EBU R128 (`ebur128`) in the same run and brought to the target with the exact gain and a
  true-peak limiter, then encoded to AAC once. We measure and apply the gain rather than run `loudnorm` twice: loudnorm resamples
  to 192 kHz and cost 18 s of a 46 s render here, and in its linear mode it applies a constant gain anyway.
- **The film** (`assemble`): the segments joined by ffmpeg's concat demuxer and muxed with the sound and the
  soft subtitle track, all by stream copy: about a copy of the film's bytes.

Every ffmpeg runs in a process group of its own that a cancelled run kills at once (storyforge/services/ffmpeg.py).
"""

from __future__ import annotations

import math
import os
import wave
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from PIL import Image

from storyforge.engine.contract import Service, gather, knob
from storyforge.errors import StoryforgeError
from storyforge.media import Font, font_for, read_wav, resample, write_wav
from storyforge.models import (
    ModelProvider,
    Motion,
    MusicTrack,
    NarrationClip,
    Piece,
    PieceSource,
    ShotVisual,
    Timeline,
    Transition,
)
from storyforge.quality import DUCKING_WAV
from storyforge.services.ffmpeg import FFmpegError, ffmpeg, integrated, probe
from storyforge.timeline import plan_pieces, to_srt


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


def lay_narration(timeline: Timeline, narration: dict[str, NarrationClip], out: Path) -> Path | None:
    """Every narration clip at its place in one 16-bit WAV as long as the film, written as it goes: memory holds
    one clip, time grows linearly with the clips. The track takes the rate most clips have (others are
    resampled) and is mono unless a clip is stereo. None when nothing is narrated."""
    placed = [(e.narration_start_s, narration[e.shot_id]) for e in timeline.entries if e.shot_id in narration]
    if not placed:
        return None
    headers = {}
    for _, clip in placed:
        with wave.open(str(clip.audio.path), "rb") as w:
            headers[clip.shot_id] = (w.getframerate(), w.getnchannels())
    rate = Counter(r for r, _ in headers.values()).most_common(1)[0][0]
    channels = max(c for _, c in headers.values())
    total = math.ceil(timeline.duration_s * rate)
    pending = np.zeros((0, channels), dtype=np.float32)  # samples from `written` on, not yet on disk
    written = 0
    with wave.open(str(out), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)

        def flush(upto: int) -> None:
            nonlocal pending, written
            upto = min(upto, total)
            if upto <= written:
                return
            if len(pending) < upto - written:
                pending = np.concatenate([pending, np.zeros((upto - written - len(pending), channels), np.float32)])
            chunk, pending = pending[: upto - written], pending[upto - written :]
            w.writeframes((np.clip(chunk, -1, 1) * 32767).astype("<i2").tobytes())
            written = upto

        for start_s, clip in sorted(placed, key=lambda p: p[0]):
            try:
                data, clip_rate = read_wav(Path(clip.audio.path))
            except ValueError as exc:
                raise StoryforgeError(
                    f"narration clip {exc}; the mix reads 16-bit WAV.", "have the TTS backend write 16-bit PCM."
                ) from exc
            data = resample(data.reshape(len(data), -1), clip_rate, rate)
            if data.shape[1] < channels:
                data = np.repeat(data, channels, axis=1)
            start = round(start_s * rate)
            flush(start)
            offset = start - written  # >= 0 unless clips overlap (the timeline never makes them overlap)
            if offset < 0:
                data, offset = data[-offset:], 0
            need = offset + len(data)
            if len(pending) < need:
                pending = np.concatenate([pending, np.zeros((need - len(pending), channels), np.float32)])
            pending[offset:need] += data
        flush(total)
    return out


class FFmpegCompositor(Service):
    provider = ModelProvider.ffmpeg

    class Params(Service.Params):
        max_concurrency: int = knob(
            (os.cpu_count() or 1) + 1, "Segments at once (default: cores + 1, as each ffmpeg has single-threaded stretches)"
        )
        threads: int = 2  # x264 threads per segment: fixed, since x264 writes its thread count into the stream
        timeout_s: float = knob(3600.0, "Longest one ffmpeg run may take before it counts as hung")
        preset: str = "veryfast"  # x264 preset: ultrafast ... veryslow
        crf: int = 23  # x264 quality (lower is better)
        audio_bitrate: str = "160k"  # AAC bitrate
        aac_coder: str = "twoloop"  # ffmpeg's AAC coder: twoloop (best), fast (debug_cpu: about 1.4x quicker)
        aac_tools: bool = True  # PNS, TNS, intensity and mid/side stereo (off on debug_cpu: about 1.8x quicker again)
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
        font: str | None = None  # font family for burned-in subtitles; None: an installed one that covers their text
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
        """The whole film in one call and without the cache (for benchmarks and tests): every piece rendered at
        once under the limiter, the mix beside them, then the join. The pipeline does the same through its
        cached stages (compose, segments, mix, film). Returns the film's measured duration."""
        work = out.with_name(f"{out.stem}.parts")
        work.mkdir(parents=True, exist_ok=True)
        pieces = plan_pieces(timeline, visuals, burn_subtitles)
        bed = None if music is None else Path(music.audio.path)
        stem = out.with_name(DUCKING_WAV)

        async def sound() -> None:
            await self.mix(timeline, narration, bed, music is None or music.loopable, work / "mix.m4a", stem, graph_file, log_dir)

        async def picture() -> list[Path]:
            return await gather(lambda p: self.render_segment(p, work / f"{p.id}.mp4", log_dir), pieces)

        paths, _ = await gather(lambda job: job(), [picture, sound])
        return await self.assemble(
            paths, work / "mix.m4a", None if burn_subtitles else subtitles, timeline.duration_s, out, log_dir
        )

    # -- segments ----------------------------------------------------------------------------------------------

    async def render_segment(self, piece: Piece, out: Path, log_dir: Path | None = None) -> Path:
        """One piece of the film into the MP4 `out` (video only, `piece.frames` frames, a closed GOP)."""
        clip_lengths = [
            await anyio.to_thread.run_sync(lambda s=s: probe(Path(s.media.path))["duration"]) if s.is_clip else 0.0
            for s in piece.sources
        ]
        graph = [self._source(k, piece, s, length) for k, (s, length) in enumerate(zip(piece.sources, clip_lengths, strict=True))]
        if len(piece.sources) == 2:
            kind = "fadeblack" if piece.transition == Transition.fade_black else "fade"
            graph.append(f"[s0][s1]xfade=transition={kind}:duration={piece.frames / piece.fps:.6f}:offset=0[v]")
        else:
            graph.append("[s0]null[v]")
        if piece.cues:
            subs = out.with_suffix(".srt")
            subs.write_text(to_srt(piece.cues), encoding="utf-8")
            family = self.subtitle_font(piece).family
            style = f"FontSize={self.params.font_size}" + (f",FontName={family}" if family else "")
            graph.append(f"[v]subtitles=filename={subs.name}:force_style='{style}'[vout]")  # a bare name: ffmpeg runs beside it
        else:
            graph.append("[v]null[vout]")
        inputs = [a for s in piece.sources for a in ("-i", str(s.media.path))]
        p = self.params
        args = [
            *inputs, "-filter_complex", ";".join(graph), "-sws_flags", p.scaler, "-map", "[vout]", "-an",
            "-frames:v", str(piece.frames), "-c:v", "libx264", "-preset", p.preset, "-crf", str(p.crf),
            "-pix_fmt", "yuv420p", "-r", str(piece.fps), "-threads", str(p.threads), "-f", "mp4", str(out),
        ]  # fmt: skip
        log = (log_dir or out.parent) / f"ffmpeg-error-{piece.id}.log"
        async with self.limiter:
            try:
                await ffmpeg(args, log, p.timeout_s, cwd=out.parent)
            except FFmpegError as exc:
                if exc.problem.startswith("the disk is full"):
                    raise
                reasons = [await anyio.to_thread.run_sync(unreadable, s) for s in piece.sources]
                broken = [f"{s.media.name}: {why}" for s, why in zip(piece.sources, reasons, strict=True) if why]
                if broken:
                    raise FFmpegError(
                        f"the picture of {'; '.join(broken)}.",
                        "replace it, or draw it again (cache.refresh=[visuals]); the other segments stay cached.",
                    ) from exc
                raise FFmpegError(f"could not render segment {piece.id}: {exc.problem}", exc.fix) from exc
        return out

    def subtitle_font(self, piece: Piece) -> Font:
        """The font a piece's burned-in cues are drawn with: `font` when set, else the installed font that covers
        their text (storyforge/media.py `font_for`)."""
        return font_for("\n".join(c.text for c in piece.cues), self.params.font, False, "compositor.font")

    def item_fingerprint(self, item: Any) -> dict:
        """For a piece with burned-in cues, the font they are drawn with (it follows the script of their text): a
        font installed or replaced later re-renders the pieces it changes."""
        if not isinstance(item, Piece) or not item.cues:
            return {}
        font = self.subtitle_font(item)
        return {"font_family": font.family, "font_sha256": font.sha256}

    def _source(self, k: int, piece: Piece, source: PieceSource, clip_length: float) -> str:
        """The filter chain giving frames [first_frame, first_frame + piece.frames) of one shot's slot."""
        p, w, h, fps, n = self.params, piece.width, piece.height, piece.fps, piece.frames
        first, slot = source.first_frame, source.slot_frames
        cover = f"scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},setsar=1"
        if source.is_clip:  # too long: trimmed; a little short: slowed down; much too short: the last frame held
            slot_s = slot / fps
            slow = clip_length < slot_s <= clip_length * 1.5
            stretch = f"setpts={slot_s / clip_length:.5f}*PTS,fps={fps}," if slow else ""
            return (
                f"[{k}:v]{cover},fps={fps},format=yuv420p,{stretch}tpad=stop_mode=clone:stop=-1,"
                f"trim=start_frame={first}:end_frame={first + n},setpts=N/{fps}/TB[s{k}]"
            )
        if source.motion == Motion.none:
            return f"[{k}:v]{cover},format=yuv420p,loop=loop={n - 1}:size=1,settb=1/{fps},setpts=N,fps={fps}[s{k}]"
        big_w, big_h = 2 * round(w * p.upscale / 2), 2 * round(h * p.upscale / 2)
        z, progress = source.zoom, f"(on+{first})/{max(slot - 1, 1)}"  # the motion spans the whole slot
        zoom = {Motion.zoom_in: f"1+{z - 1:.4f}*{progress}", Motion.zoom_out: f"{z:.4f}-{z - 1:.4f}*{progress}"}.get(
            source.motion, f"{z:.4f}"
        )
        cx, cy = "(iw-iw/zoom)/2", "(ih-ih/zoom)/2"
        x = {Motion.pan_left: f"(iw-iw/zoom)*(1-{progress})", Motion.pan_right: f"(iw-iw/zoom)*{progress}"}.get(source.motion, cx)
        y = {Motion.pan_up: f"(ih-ih/zoom)*(1-{progress})", Motion.pan_down: f"(ih-ih/zoom)*{progress}"}.get(source.motion, cy)
        return (
            f"[{k}:v]scale={big_w}:{big_h}:force_original_aspect_ratio=increase,crop={big_w}:{big_h},setsar=1,"
            f"zoompan=z='{zoom}':x='{x}':y='{y}':d={n}:s={w}x{h}:fps={fps},format=yuv420p,setpts=N/{fps}/TB[s{k}]"
        )

    # -- sound -------------------------------------------------------------------------------------------------

    async def mix(
        self,
        timeline: Timeline,
        narration: dict[str, NarrationClip],
        music: Path | None,
        loopable: bool,
        out: Path,
        stem: Path | None = None,
        graph_file: Path | None = None,
        log_dir: Path | None = None,
    ) -> tuple[float, float]:
        """The film's sound into `out` (AAC, at the loudness target); with music and a `stem` path, also the music
        stem (see quality.DUCKING_WAV). Returns the integrated loudness (LUFS) measured before the gain and as
        delivered (after the gain and the true-peak limiter)."""
        p, work = self.params, out.parent
        log = (log_dir or work) / "ffmpeg-error.log"
        voice = await anyio.to_thread.run_sync(lay_narration, timeline, narration, work / "narration.wav")
        if music is not None and loopable:
            music = await anyio.to_thread.run_sync(seamless_loop, music, work / "music_loop.wav", p.loop_crossfade_s)
        lanes, mix = work / "lanes.flac", work / "mix.flac"
        prepare, prepared = self.lanes_command(timeline, voice, music, loopable, lanes)
        args, graph = self.mix_command(timeline, lanes, music is not None, mix, stem)
        if graph_file is not None:
            graph_file.write_text(f"# voice and music lanes\n{prepared}\n\n# the sound mix\n{graph}\n", encoding="utf-8")
        async with self.limiter:
            await ffmpeg(prepare, log, p.timeout_s)
            measured = integrated(await ffmpeg([*args, "-nostats"], log, p.timeout_s, loglevel="info"))
            if measured is None:
                raise FFmpegError("ffmpeg's loudness measurement of the mix found no audio.", f"see {log}.")
            gain = max(-40.0, min(40.0, p.loudness_lufs - measured))
            limit = f"volume={gain:.2f}dB,alimiter=limit={10 ** (p.true_peak_db / 20):.4f}:attack=5:release=50:level=0"
            report = await ffmpeg(
                [
                    "-i", str(mix), "-filter_complex", f"[0:a]{limit},asplit=2[out][meter];[meter]ebur128=framelog=quiet,anullsink",
                    "-map", "[out]", "-c:a", "aac", "-aac_coder", p.aac_coder, "-b:a", p.audio_bitrate,
                    *([] if p.aac_tools else ["-aac_pns", "0", "-aac_tns", "0", "-aac_is", "0", "-aac_ms", "0"]),
                    "-ar", str(p.sample_rate), "-t", f"{timeline.duration_s:.6f}", "-nostats", str(out),
                ],
                log,
                p.timeout_s,
                loglevel="info",
            )  # fmt: skip
        delivered = integrated(report)  # as it goes into the encoder: the film's loudness, without decoding it again
        return measured, delivered if delivered is not None else measured + gain

    def lanes_command(
        self, tl: Timeline, voice: Path | None, music: Path | None, loopable: bool, out: Path
    ) -> tuple[list[str], str]:
        """The narration and the music bed (looped or padded to the film, at its level, faded in and out), resampled
        to one rate and laid side by side in one 4-channel file: the mix then reads a single input, so the ducking
        sees voice and music in lockstep and gives the same result on every run (fed as two inputs, ffmpeg's
        sidechain compressor varies with the order their frames arrive in)."""
        p, d = self.params, tl.duration_s
        fmt = f"aresample={p.sample_rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
        silence = ["-f", "lavfi", "-i", f"anullsrc=r={p.sample_rate}:cl=stereo"]
        inputs = ["-i", str(voice)] if voice is not None else silence
        graph = [f"[0:a]{fmt},apad=whole_dur={d},atrim=duration={d}[voice]"]
        if music is not None:
            inputs += ["-i", str(music)]
            with wave.open(str(music), "rb") as w:
                loop_samples = math.ceil(w.getnframes() / w.getframerate() * p.sample_rate)
            # a loop is repeated; a track made to the film's length (the per-scene score) is streamed as it is
            extend = f"aloop=loop=-1:size={loop_samples}" if loopable else f"apad=whole_dur={d}"
            fade_out = min(p.music_fade_out_s, d / 3)
            graph.append(
                f"[1:a]{fmt},{extend},atrim=duration={d},volume={p.music_gain_db}dB,"
                f"afade=t=in:d={min(p.music_fade_in_s, d / 3):.3f},afade=t=out:st={d - fade_out:.3f}:d={fade_out:.3f}[music]"
            )
        else:
            inputs += silence
            graph.append(f"[1:a]{fmt},atrim=duration={d}[music]")
        graph.append("[voice][music]join=inputs=2:channel_layout=quad:map=0.0-FL|0.1-FR|1.0-BL|1.1-BR[lanes]")
        text = ";".join(graph)
        return [*inputs, "-filter_complex", text, "-map", "[lanes]", "-c:a", "flac", str(out)], text

    def mix_command(self, tl: Timeline, lanes: Path, music: bool, out: Path, stem: Path | None = None) -> tuple[list[str], str]:
        """The mix of the lanes (see `lanes_command`) into `out`, measured as it is made: a graph of the same size for
        any film. With music and a `stem` path, also the music stem (see quality.DUCKING_WAV)."""
        p, d = self.params, tl.duration_s
        stem = stem if music else None
        graph = ["[0:a]asplit=2[v4][m4];[v4]pan=stereo|c0=c0|c1=c1,asplit=2[voice][sc]"]
        stem_args: list[str] = []
        if music:
            graph.append(f"[m4]pan=stereo|c0=c2|c1=c3,asplit={3 if stem else 2}[bed][floor]{'[bare]' if stem else ''}")
            # the bed is split into a part the sidechain ducks, (1 - floor) of it, and a floor that stays: together
            # they are the bed itself without narration, and the floor alone (duck_depth_db lower) under it
            floor = 10 ** (-p.duck_depth_db / 20)
            graph.append(
                f"[bed]volume={1 - floor:.6f}[duckable];[duckable][sc]sidechaincompress=threshold={p.duck_threshold}:"
                f"ratio={p.duck_ratio}:attack={p.duck_attack_ms}:release={p.duck_release_ms}[ducked]"
            )
            graph.append(f"[floor]volume={floor:.6f}[under]")
            graph.append(f"[ducked][under]amix=inputs=2:normalize=0{',asplit=2[music][wet]' if stem else '[music]'}")
            graph.append(f"[voice][music]amix=inputs=2:normalize=0,atrim=duration={d}[mixed]")
            if stem is not None:  # the music as mixed | the bed as it would have been without ducking, each in mono
                mono = "pan=mono|c0=0.5*c0+0.5*c1"
                graph.append(f"[wet]{mono}[wetm];[bare]{mono}[drym]")
                graph.append(f"[wetm][drym]join=inputs=2:channel_layout=stereo,aresample={p.stem_rate},atrim=duration={d}[stem]")
                stem_args = ["-map", "[stem]", "-c:a", "pcm_s16le", str(stem)]
        else:
            graph.append("[m4]anullsink;[sc]anullsink;[voice]anull[mixed]")
        graph.append("[mixed]asplit=2[aout][meter];[meter]ebur128=framelog=quiet,anullsink")  # measured as it is made
        text = ";".join(graph)
        args = ["-i", str(lanes), "-filter_complex", text, "-map", "[aout]", "-c:a", "flac", str(out), *stem_args]
        return args, text

    # -- the film ----------------------------------------------------------------------------------------------

    async def assemble(
        self, segments: list[Path], audio: Path, subtitles: Path | None, duration_s: float, out: Path,
        log_dir: Path | None = None,
    ) -> float:  # fmt: skip
        """The segments joined in order and muxed with the sound and the soft subtitle track, all by stream copy.
        Returns the film's measured duration."""
        listing = out.with_name("segments.ffconcat")
        listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{_quote(s)}'\n" for s in segments), encoding="utf-8")
        inputs, maps = ["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(audio)], ["-map", "0:v", "-map", "1:a"]
        if subtitles is not None:
            inputs += ["-i", str(subtitles)]
            maps += ["-map", "2:s", "-c:s", "mov_text", "-metadata:s:s:0", "language=und"]
        args = [*inputs, *maps, "-c:v", "copy", "-c:a", "copy", "-movflags", "+faststart", "-t", f"{duration_s:.6f}", str(out)]
        await ffmpeg(args, (log_dir or out.parent) / "ffmpeg-error.log", self.params.timeout_s)
        return (await anyio.to_thread.run_sync(probe, out))["duration"]


def unreadable(source: PieceSource) -> str | None:
    """Why a shot's picture cannot be read (None when it can): for naming the culprit when a segment fails."""
    path = Path(source.media.path)
    if not path.is_file():
        return "it is missing"
    if source.is_clip:
        return None if probe(path)["duration"] > 0 else "it is not a readable video"
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        return f"it is not a readable image ({exc})"
    return None


def _quote(path: Path) -> str:
    """A path inside single quotes of an ffconcat file."""
    return str(path).replace("'", "'\\''")
