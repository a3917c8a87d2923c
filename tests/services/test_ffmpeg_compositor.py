"""The compositor measured on generated inputs: loudness, ducking depth (and its music stem), duration, fades,
presets, errors, what every Ken Burns move keeps in view, and the font of burned-in subtitles in their key."""

import re
import subprocess
from pathlib import Path

import anyio
import numpy as np
import pytest
from PIL import Image

from storyforge.errors import StoryforgeError
from storyforge.media import font_for, read_wav, write_wav
from storyforge.models import (
    Artifact,
    Motion,
    MusicTrack,
    NarrationClip,
    Piece,
    PieceSource,
    Shot,
    ShotType,
    ShotVisual,
    Transition,
    Video,
)
from storyforge.quality import DUCKING_WAV, duck_depth, quality_figures
from storyforge.services.compositor.ffmpeg import FFmpegCompositor, lay_narration, seamless_loop
from storyforge.services.ffmpeg import ffmpeg_exe, probe
from storyforge.timeline import MAX_ZOOM, Transitions, build_timeline, plan_pieces, safe_area, to_srt

VOICE_HZ, MUSIC_HZ, RATE = 2000, 200, 16000


def sine(path: Path, hz: float, seconds: float, amplitude: float, rate: int = 24000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    return write_wav(path, amplitude * np.sin(2 * np.pi * hz * t), rate)


def make(
    tmp: Path, width=320, height=180, fps=12, scenes=2, per_scene=2, tail_s=2.5, narrate=True, transitions=None, ken_burns=True
):
    shots = [
        Shot(
            scene_index=s,
            index=i,
            shot_type=ShotType.wide,
            description="d",
            narration=f"Line {s}.{i} is spoken here.",
            duration_s=2,
        )
        for s in range(1, scenes + 1)
        for i in range(1, per_scene + 1)
    ]
    visuals, clips = {}, {}
    for n, s in enumerate(shots):  # bright stills: a crossfade between them never goes black
        png = tmp / f"{s.id}.png"
        Image.new("RGB", (640, 360), (230, 200 - 30 * n, 120 + 30 * n)).save(png)
        visuals[s.id] = ShotVisual(shot_id=s.id, media=Artifact(name=png.name, media_type="image/png", path=png))
        if narrate:
            wav = sine(tmp / f"{s.id}.wav", VOICE_HZ, 1.5, 0.3)
            clips[s.id] = NarrationClip(
                shot_id=s.id, text=s.narration, audio=Artifact(name=wav.name, media_type="audio/wav", path=wav), duration_s=1.5
            )
    music_wav = sine(tmp / "music.wav", MUSIC_HZ, 4.0, 0.5, rate=44100)
    music = MusicTrack(audio=Artifact(name="music.wav", media_type="audio/wav", path=music_wav), duration_s=4.0)
    tl = build_timeline(
        shots, clips, width, height, fps, lead_in_s=0.3, tail_s=tail_s, transitions=transitions, ken_burns=ken_burns
    )
    srt = tmp / "subs.srt"
    srt.write_text(to_srt(tl.cues))
    return tl, visuals, clips, music, srt


def render(tmp: Path, tl, visuals, clips, music, srt, **params) -> tuple[Path, float]:
    burn = params.pop("burn", False)
    out = tmp / "out.mp4"
    comp = FFmpegCompositor(preset="ultrafast", **params)
    duration = anyio.run(
        lambda: comp.compose(tl, visuals, clips, music, srt, out, burn_subtitles=burn, graph_file=tmp / "graph.txt", log_dir=tmp)
    )
    return out, duration


def loudness(path: Path) -> float:
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a", "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", proc.stderr)[-1])


def black_spans(path: Path) -> list[tuple[float, float]]:
    """(start, end) of every run of black frames, from ffmpeg's blackdetect."""
    cmd = [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-i",
        str(path),
        "-vf",
        "blackdetect=d=0.05:pix_th=0.1",
        "-an",
        "-f",
        "null",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return [(float(a), float(b)) for a, b in re.findall(r"black_start:([\d.]+) black_end:([\d.]+)", proc.stderr)]


def overlaps(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    return any(a <= end and b >= start for a, b in spans)


def band_db(samples: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    return 20 * np.log10(spectrum[(freqs > hz * 0.8) & (freqs < hz * 1.2)].max() + 1e-9)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compose")
    tl, visuals, clips, music, srt = make(tmp)
    out, duration = render(tmp, tl, visuals, clips, music, srt)
    return tmp, tl, out, duration


def test_streams_duration_and_graph_file(rendered):
    tmp, tl, out, duration = rendered
    info = probe(out)
    assert [s["type"] for s in info["streams"]] == ["video", "audio", "subtitle"]
    assert abs(duration - tl.duration_s) <= 1 / tl.fps  # within one frame
    assert "sidechaincompress" in (tmp / "graph.txt").read_text()


def test_loudness_is_on_target(rendered):
    assert abs(loudness(rendered[2]) - (-16.0)) <= 1.0


def test_music_is_ducked_at_least_10_db_under_narration(rendered):
    _, tl, out, _ = rendered
    pcm = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-i", str(out), "-map", "0:a", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    audio = np.frombuffer(pcm, "<i2").astype(float)
    win = int(0.2 * RATE)

    def level(t: float) -> float:
        return band_db(audio[int(t * RATE) : int(t * RATE) + win], MUSIC_HZ)

    under = [level(e.narration_start_s + 0.4 + k * 0.2) for e in tl.entries for k in range(4)]
    gaps = [level(e.narration_start_s + e.narration_duration_s + 1.2) for e in tl.entries[:-1]]
    assert np.median(gaps) - np.median(under) >= 10.0


def test_the_music_stem_measures_the_ducking_depth(rendered):
    tmp, tl, out, duration = rendered
    art = Artifact(name=out.name, media_type="video/mp4", path=out)
    video = Video(mp4=art, subtitles=art, timeline=tl, duration_s=duration)
    # the steady test tone is ~40 dB over the sidechain threshold: ratio 20 takes 38 dB off the ducked part, which
    # then adds ~0.5 dB over the 15 dB floor (measured 14.5); never deeper than the floor
    assert 14.0 <= duck_depth(video, tmp / DUCKING_WAV) <= 15.0
    assert duck_depth(video.model_copy(update={"timeline": tl.model_copy(update={"entries": []})}), tmp / DUCKING_WAV) is None
    assert quality_figures([video], tmp)["duck_depth_db"] is None  # no stem among the extras: no music


def test_no_music_writes_no_stem_and_the_graph_does_not_grow_with_the_film(tmp_path):
    tl, _visuals, clips, music, _srt = make(tmp_path, scenes=1, per_scene=1, tail_s=0.2)
    comp, voice = FFmpegCompositor(), lay_narration(tl, clips, tmp_path / "voice.wav")
    lanes = tmp_path / "lanes.flac"
    args, graph = comp.mix_command(tl, lanes, False, tmp_path / "mix.flac", tmp_path / DUCKING_WAV)
    assert "[stem]" not in graph and str(tmp_path / DUCKING_WAV) not in args
    args, graph = comp.mix_command(tl, lanes, True, tmp_path / "mix.flac", tmp_path / DUCKING_WAV)
    assert "[stem]" in graph and args[-1] == str(tmp_path / DUCKING_WAV)
    longer, _, more_clips, *_ = make(tmp_path, scenes=4, per_scene=5)
    long_voice = lay_narration(longer, more_clips, tmp_path / "long_voice.wav")
    for timeline, track in ((tl, voice), (longer, long_voice)):  # one narration track and one music input, however many clips
        args, graph = comp.lanes_command(timeline, track, Path(music.audio.path), True, lanes)
        assert args.count("-i") == 2 and graph.count(";") == 2


def test_the_mix_is_the_same_on_every_run(tmp_path):
    tl, _visuals, clips, music, _srt = make(tmp_path, scenes=2, per_scene=3)
    comp, made = FFmpegCompositor(), []
    for n in range(3):
        work = tmp_path / f"mix{n}"
        work.mkdir()
        measured = anyio.run(comp.mix, tl, clips, Path(music.audio.path), True, work / "mix.m4a", work / DUCKING_WAV)
        made.append(((work / "mix.m4a").read_bytes(), (work / DUCKING_WAV).read_bytes(), measured))
    assert made[0] == made[1] == made[2]


def test_fade_black_between_scenes_and_none_at_crossfades(rendered):
    _, tl, out, _ = rendered
    blacks = black_spans(out)
    scene_change = next(e for e in tl.entries if e.transition_in == "fade_black")
    assert overlaps(blacks, scene_change.start_s, scene_change.start_s + scene_change.transition_s)
    for e in tl.entries:
        if e.transition_in == "crossfade":
            assert not overlaps(blacks, e.start_s, e.start_s + e.transition_s)


def test_cuts_within_scenes_then_a_fade_between_them(tmp_path):
    tl, visuals, clips, music, srt = make(tmp_path, transitions=Transitions(within_scene=Transition.cut))
    assert [e.transition_in for e in tl.entries] == [Transition.none, Transition.cut, Transition.fade_black, Transition.cut]
    _, duration = render(tmp_path, tl, visuals, clips, music, srt)  # concat then xfade: their time bases must agree
    assert abs(duration - tl.duration_s) <= 1 / tl.fps


def test_vertical_preset_gives_1080x1920(tmp_path):
    tl, visuals, clips, music, srt = make(tmp_path, width=1080, height=1920, fps=10, scenes=1, per_scene=1, tail_s=0.2)
    out, _ = render(tmp_path, tl, visuals, clips, music, srt)
    video = next(s for s in probe(out)["streams"] if s["type"] == "video")
    assert (video["width"], video["height"]) == (1080, 1920)


def test_burned_subtitles_replace_the_soft_track(tmp_path):
    tl, visuals, clips, music, srt = make(tmp_path, scenes=1, per_scene=1, tail_s=0.2)
    out, _ = render(tmp_path, tl, visuals, clips, music, srt, burn=True)
    assert [s["type"] for s in probe(out)["streams"]] == ["video", "audio"]


@pytest.mark.parametrize("ken_burns", [True, False])
def test_a_short_clip_is_held_to_fill_its_slot(tmp_path, ken_burns):
    tl, visuals, clips, music, srt = make(tmp_path, scenes=1, per_scene=2, tail_s=0.2, ken_burns=ken_burns)
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x90:rate=8:duration=0.5",
            str(clip),
        ],
        check=True,
    )
    first = tl.entries[0].shot_id
    visuals[first] = ShotVisual(shot_id=first, media=Artifact(name="c.mp4", media_type="video/mp4", path=clip), is_clip=True)
    out, duration = render(tmp_path, tl, visuals, clips, music, srt)  # crossfaded into a still, moving or not
    assert abs(duration - tl.duration_s) <= 1 / tl.fps and len(decoded(out)) == round(tl.duration_s * tl.fps)


def test_an_ffmpeg_failure_is_one_clear_error_with_its_log_saved(tmp_path):
    tl, visuals, clips, music, srt = make(tmp_path, scenes=1, per_scene=1, tail_s=0.2)
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    visuals[tl.entries[0].shot_id].media.path = broken
    with pytest.raises(StoryforgeError, match=r"the picture of s01_01.png: it is not a readable image .*Fix: replace it"):
        render(tmp_path, tl, visuals, clips, music, srt)
    assert (tmp_path / f"ffmpeg-error-{tl.entries[0].shot_id}.log").read_text().strip()
    assert not (tmp_path / "out.mp4").exists() or probe(tmp_path / "out.mp4")["duration"] == 0


def test_seamless_loop_crossfades_tail_into_head(tmp_path):
    src = sine(tmp_path / "m.wav", 220, 3.0, 0.5, rate=8000)
    out = seamless_loop(src, tmp_path / "loop.wav", 1.0)
    import wave

    with wave.open(str(out)) as w:
        assert w.getnframes() == 2 * 8000


@pytest.mark.skipif(
    bool(font_for("हिन्दी", None, False).missing), reason="no Devanagari font installed (apt-get install fonts-lohit-deva)"
)
def test_devanagari_subtitles_burn_in(tmp_path):
    tl, visuals, clips, music, srt = make(tmp_path, scenes=1, per_scene=1, tail_s=0.2)
    dark = tmp_path / "dark.png"
    Image.new("RGB", (640, 360), (20, 20, 40)).save(dark)
    entry = tl.entries[0]
    visuals[entry.shot_id].media.path = dark
    entry.text, entry.narration_offset_s, entry.narration_duration_s = "गौरी को पतंग उड़ाना बहुत पसंद था।", 0.0, tl.duration_s

    def bright_pixels(burn: bool) -> int:
        out, _ = render(tmp_path, tl, visuals, clips, music, srt, burn=burn, font_size=48)
        frame = tmp_path / f"frame{burn}.png"
        subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-ss", "1.0", "-i", str(out), "-frames:v", "1", str(frame)],
            check=True,
        )
        pixels = np.asarray(Image.open(frame).convert("L"))
        return int((pixels[pixels.shape[0] * 2 // 3 :] > 200).sum())

    assert bright_pixels(True) > 200 and bright_pixels(False) == 0


def decoded(path: Path) -> np.ndarray:
    """Every frame of a video as raw yuv420p bytes, one row per frame."""
    w, h = next((s["width"], s["height"]) for s in probe(path)["streams"] if s["type"] == "video")
    raw = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, w * h * 3 // 2).astype(int)


def test_pieces_show_exactly_the_frames_the_timeline_gives_them(tmp_path):
    tl, visuals, *_ = make(tmp_path)  # Ken Burns stills, a crossfade, a fade through black
    pieces = plan_pieces(tl, visuals)
    assert sum(p.frames for p in pieces) == round(tl.duration_s * tl.fps)  # every frame of the film, once
    comp = FFmpegCompositor(preset="ultrafast", crf=0)  # lossless: decoded frames are what the filters drew

    def frames(piece: Piece) -> np.ndarray:
        return decoded(anyio.run(comp.render_segment, piece, tmp_path / f"{piece.id}.mp4"))

    second = next(p for p in pieces if p.id == tl.entries[1].shot_id)
    whole = second.model_copy(update={"id": "whole", "frames": second.sources[0].slot_frames,
                                      "sources": [second.sources[0].model_copy(update={"first_frame": 0})]})  # fmt: skip
    slot, body = frames(whole), frames(second)
    first = second.sources[0].first_frame
    assert len(body) == second.frames and np.array_equal(body, slot[first : first + second.frames])  # the motion goes on
    join = next(p for p in pieces if p.id.endswith(f"-{tl.entries[1].shot_id}"))
    blend = frames(join)
    assert len(blend) == join.frames
    assert np.abs(blend[0] - frames(next(p for p in pieces if p.id == tl.entries[0].shot_id))[-1]).mean() < 3  # from the edge
    assert np.abs(blend[-1] - slot[0]).mean() < np.abs(blend[0] - slot[0]).mean()  # ...into the next shot


def test_narration_is_laid_at_its_place_at_one_rate(tmp_path):
    tl, _visuals, clips, _music, _srt = make(tmp_path)
    odd = tl.entries[1].shot_id  # one clip at another rate is resampled to the track's
    wav = sine(tmp_path / "odd.wav", VOICE_HZ, 1.5, 0.3, rate=16000)
    clips[odd] = clips[odd].model_copy(update={"audio": Artifact(name="odd.wav", media_type="audio/wav", path=wav)})
    track, rate = read_wav(lay_narration(tl, clips, tmp_path / "voice.wav"))
    assert rate == 24000 and abs(len(track) / rate - tl.duration_s) < 1 / rate + 1e-9
    loud = np.abs(track) > 0.05
    for entry in tl.entries:
        start = round(entry.narration_start_s * rate)
        assert not loud[start - 200 : start - 10].any() and loud[start + 10 : start + 200].any(), entry.shot_id
    assert lay_narration(tl, {}, tmp_path / "none.wav") is None


@pytest.mark.parametrize(
    "motion", [Motion.pan_left, Motion.pan_right, Motion.pan_up, Motion.pan_down, Motion.zoom_in, Motion.zoom_out]
)
def test_every_ken_burns_move_keeps_the_safe_area_in_view(tmp_path, motion):
    w, h, slot = 320, 180, 6
    left, top, right, bottom = safe_area(w, h)
    still = Image.new("L", (w, h), 0)  # a bright mark just inside each corner of the safe area
    for x, y in ((left, top), (right - 8, top), (left, bottom - 8), (right - 8, bottom - 8)):
        still.paste(255, (x, y, x + 8, y + 8))
    png = tmp_path / "still.png"
    still.convert("RGB").save(png)
    source = PieceSource(
        media=Artifact(name=png.name, media_type="image/png", path=png),
        motion=motion,
        zoom=MAX_ZOOM,
        slot_frames=slot,
        first_frame=0,
    )
    piece = Piece(id="s01_01", frames=slot, sources=[source], width=w, height=h, fps=12)
    out = anyio.run(lambda: FFmpegCompositor(preset="ultrafast", crf=0).render_segment(piece, tmp_path / "piece.mp4"))
    for frame in decoded(out)[[0, -1]]:  # the move's two ends
        luma = frame[: w * h].reshape(h, w)
        quarters = [luma[: h // 2, : w // 2], luma[: h // 2, w // 2 :], luma[h // 2 :, : w // 2], luma[h // 2 :, w // 2 :]]
        assert all((q > 128).sum() >= 48 for q in quarters)  # all four 8x8 marks, (nearly) whole, on screen


def test_the_key_of_burned_in_subtitles_follows_the_font_that_draws_them(tmp_path):
    tl, visuals, *_ = make(tmp_path, scenes=1, per_scene=1)
    body = next(p for p in plan_pieces(tl, visuals, burn_subtitles=True) if p.cues)
    comp = FFmpegCompositor()
    assert comp.item_fingerprint(plan_pieces(tl, visuals)[0]) == {}  # no subtitles drawn: no font in the key
    english = comp.item_fingerprint(body)
    assert english["font_sha256"] == font_for(body.cues[0].text, None, False).sha256 != ""
    if not font_for("हिन्दी", None, False).missing:
        hindi = body.model_copy(update={"cues": [c.model_copy(update={"text": "गौरी को पतंग उड़ाना पसंद था।"}) for c in body.cues]})
        assert comp.item_fingerprint(hindi)["font_sha256"] != english["font_sha256"]
