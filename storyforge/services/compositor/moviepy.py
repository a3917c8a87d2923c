"""The same timeline rendered whole with MoviePy 2.x: the baseline benchmarks/compose.py measures the segment
compositor against (not a `compositor=` choice: a whole-film renderer cannot use the per-piece cache).

Same timeline, same look: Ken Burns motion, crossfades within a scene, fades through black between scenes,
narration placed on its shots, the seamless music loop faded in and out and lowered by `duck_depth_db` while
narration plays (MoviePy has no sidechain compressor, so ducking follows the timeline's narration spans). The
same music clips, ducked and not, are rendered again at a low rate into `ducking.wav` for the measured ducking
depth (storyforge/quality.py). A final ffmpeg stream-copy pass adds the soft subtitle track and brings the
audio to the loudness target.
Burned-in subtitles are the ffmpeg backend's job. Needs the `moviepy` extra: pip install 'storyforge[moviepy]'.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import numpy as np

from storyforge.engine.contract import Service, knob
from storyforge.errors import StoryforgeError
from storyforge.media import write_wav
from storyforge.models import ModelProvider, Motion, MusicTrack, NarrationClip, ShotVisual, Timeline, Transition
from storyforge.quality import DUCKING_WAV
from storyforge.services.compositor.ffmpeg import seamless_loop
from storyforge.services.ffmpeg import integrated_loudness, probe, run_ffmpeg


class MoviePyCompositor(Service):
    provider = ModelProvider.moviepy

    class Params(Service.Params):
        max_concurrency: int = knob(1, "Renders at once")
        timeout_s: float = knob(3600.0, "Longest the final ffmpeg pass may take")
        preset: str = "veryfast"  # x264 preset
        crf: int = 23  # x264 quality
        audio_bitrate: str = "160k"  # AAC bitrate
        sample_rate: int = 48000  # Hz
        music_gain_db: float = -14.0  # music bed level
        music_fade_in_s: float = 1.5  # fade at the start
        music_fade_out_s: float = 3.0  # fade at the end
        loop_crossfade_s: float = 1.0  # crossfade at the music's loop point
        duck_depth_db: float = 15.0  # music is this much quieter while narration plays
        stem_rate: int = 8000  # Hz of ducking.wav (music as mixed | not ducked), kept to measure the ducking depth
        loudness_lufs: float = -16.0  # integrated loudness target
        true_peak_db: float = -1.5  # true-peak ceiling

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
        if burn_subtitles:
            raise StoryforgeError(
                "the MoviePy renderer cannot burn subtitles in.", "use the ffmpeg compositor, or burn_subtitles=false."
            )
        return await anyio.to_thread.run_sync(
            self._render,
            timeline,
            visuals,
            narration,
            music,
            subtitles,
            out,
            graph_file,
            log_dir or out.parent,
            limiter=self.limiter,
        )

    def _render(self, tl, visuals, narration, music, subtitles, out: Path, graph_file, log_dir: Path) -> float:
        try:
            import moviepy as mp
        except ImportError as exc:
            raise StoryforgeError(
                "the MoviePy renderer needs MoviePy.", "pip install 'storyforge[moviepy]', or use the ffmpeg compositor."
            ) from exc
        p = self.params
        layers = [mp.ColorClip((tl.width, tl.height), color=(0, 0, 0), duration=tl.duration_s)]
        for i, entry in enumerate(tl.entries):
            start, duration = entry.start_s, entry.duration_s
            nxt = tl.entries[i + 1] if i + 1 < len(tl.entries) else None
            effects = []
            if entry.transition_in == Transition.fade_black:  # black by the middle of the overlap, then in
                start, duration = start + entry.transition_s / 2, duration - entry.transition_s / 2
                effects.append(mp.vfx.FadeIn(entry.transition_s / 2))
            elif entry.transition_in == Transition.crossfade:
                effects.append(mp.vfx.CrossFadeIn(entry.transition_s))
            if nxt is not None and nxt.transition_in == Transition.fade_black:
                duration -= nxt.transition_s / 2
                effects.append(mp.vfx.FadeOut(nxt.transition_s / 2))
            clip = self._picture(mp, tl, entry, visuals[entry.shot_id], entry.duration_s)
            clip = clip.subclipped(start - entry.start_s, start - entry.start_s + duration).with_start(start)
            layers.append(clip.with_effects(effects) if effects else clip)
        video = mp.CompositeVideoClip(layers, size=(tl.width, tl.height)).with_duration(tl.duration_s)

        voices = [
            mp.AudioFileClip(str(narration[e.shot_id].audio.path)).with_start(e.narration_start_s)
            for e in tl.entries
            if e.shot_id in narration
        ]
        tracks = list(voices)
        if music is not None:
            loop = Path(music.audio.path)
            if music.loopable:  # a per-scene score is made to the video's length and used as it is
                loop = seamless_loop(loop, out.with_name("music_loop.wav"), p.loop_crossfade_s)
            bed = mp.AudioFileClip(str(loop)).with_effects([mp.afx.AudioLoop(duration=tl.duration_s)])
            level = [mp.afx.MultiplyVolume(10 ** (p.music_gain_db / 20))]
            fades = [
                mp.afx.AudioFadeIn(min(p.music_fade_in_s, tl.duration_s / 3)),
                mp.afx.AudioFadeOut(min(p.music_fade_out_s, tl.duration_s / 3)),
            ]
            spans = [
                (e.narration_start_s, e.narration_start_s + e.narration_duration_s) for e in tl.entries if e.shot_id in narration
            ]
            ducked = bed.with_effects(level).transform(duck(spans, 10 ** (-p.duck_depth_db / 20))).with_effects(fades)
            tracks.append(ducked)
        if tracks:
            video = video.with_audio(mp.CompositeAudioClip(tracks).with_duration(tl.duration_s))
        draft = out.with_name("moviepy_draft.mp4")
        video.write_videofile(
            str(draft), fps=tl.fps, codec="libx264", audio_codec="aac", audio_fps=p.sample_rate, preset=p.preset,
            ffmpeg_params=["-crf", str(p.crf), "-pix_fmt", "yuv420p"], logger=None,
        )  # fmt: skip
        if music is not None:  # the same music clips, as mixed and not ducked (ducking.wav, see storyforge/quality.py)
            write_stem(out.with_name(DUCKING_WAV), ducked, bed.with_effects([*level, *fades]), p.stem_rate)
        video.close()
        if graph_file is not None:
            graph_file.write_text(
                "# MoviePy renderer: layers\n"
                + "\n".join(f"{e.shot_id} {e.start_s:.3f}+{e.duration_s:.3f} {e.transition_in} {e.motion}" for e in tl.entries)
                + "\n"
            )
        self._finish(draft, subtitles, out, log_dir / "ffmpeg-error.log")
        return probe(out)["duration"]

    def _picture(self, mp, tl: Timeline, entry, visual: ShotVisual, duration: float):
        """The shot's picture for its whole slot: a clip trimmed or frozen, or a still with Ken Burns motion."""
        w, h = tl.width, tl.height
        if visual.is_clip:
            clip = mp.VideoFileClip(str(visual.media.path)).resized((w, h))
            if clip.duration < duration:
                clip = clip.with_effects([mp.vfx.Freeze(t="end", freeze_duration=duration - clip.duration + 1 / tl.fps)])
            return clip.with_duration(duration)
        still = mp.ImageClip(str(visual.media.path)).with_duration(duration)
        cover = max(w / still.w, h / still.h)
        z = entry.zoom if entry.motion != Motion.none else 1.0
        grow = {
            Motion.zoom_in: lambda t: cover * (1 + (z - 1) * t / duration),
            Motion.zoom_out: lambda t: cover * (z - (z - 1) * t / duration),
        }
        if entry.motion in grow:
            moving = still.resized(grow[entry.motion]).with_position("center")
        else:
            big = still.resized(cover * z)
            dx, dy = big.w - w, big.h - h
            paths = {
                Motion.pan_left: lambda t: (-dx * (1 - t / duration), -dy / 2),
                Motion.pan_right: lambda t: (-dx * t / duration, -dy / 2),
                Motion.pan_up: lambda t: (-dx / 2, -dy * (1 - t / duration)),
                Motion.pan_down: lambda t: (-dx / 2, -dy * t / duration),
            }
            moving = big.with_position(paths.get(entry.motion, lambda t: (-dx / 2, -dy / 2)))
        return mp.CompositeVideoClip([moving], size=(w, h)).with_duration(duration)

    def _finish(self, draft: Path, subtitles: Path | None, out: Path, log: Path) -> None:
        """Stream-copy the video; bring the audio to the loudness target; add the soft subtitle track."""
        p = self.params
        gain = max(-40.0, min(40.0, p.loudness_lufs - integrated_loudness(draft, log, p.timeout_s)))
        args = ["-i", str(draft)]
        maps = ["-map", "0:v", "-map", "0:a"]
        if subtitles is not None:
            args += ["-i", str(subtitles)]
            maps += ["-map", "1:s", "-c:s", "mov_text"]
        run_ffmpeg(
            [*args, *maps, "-c:v", "copy", "-af", f"volume={gain:.2f}dB,alimiter=limit={10 ** (p.true_peak_db / 20):.4f}:level=0",
             "-c:a", "aac", "-b:a", p.audio_bitrate, "-ar", str(p.sample_rate), "-movflags", "+faststart", str(out)],
            log, p.timeout_s,
        )  # fmt: skip
        draft.unlink(missing_ok=True)


def duck(spans: list[tuple[float, float]], factor: float):
    """A MoviePy frame transform: the audio times `factor` inside the (start, end) spans (sorted, not
    overlapping), at numpy speed: one MultiplyVolume per span costs Python work per sample and per span."""
    starts, ends = np.array([a for a, _ in spans] or [np.inf]), np.array([b for _, b in spans] or [np.inf])

    def transform(get_frame, t):
        frames, t = get_frame(t), np.asarray(t, dtype=float)
        i = np.maximum(np.searchsorted(starts, t, side="right") - 1, 0)
        gain = np.where((starts[i] <= t) & (t <= ends[i]), factor, 1.0)
        return frames * (gain[..., None] if np.ndim(frames) > gain.ndim else gain)

    return transform


def write_stem(out: Path, mixed, dry, rate: int) -> Path:
    """ducking.wav from two MoviePy audio clips: left the music as mixed, right the same music not ducked,
    each downmixed to mono, at `rate` Hz."""
    mono = [a.mean(axis=1) if a.ndim == 2 else a for a in (np.asarray(c.to_soundarray(fps=rate)) for c in (mixed, dry))]
    n = min(len(m) for m in mono)
    return write_wav(out, np.stack([m[:n] for m in mono], axis=1), rate)
