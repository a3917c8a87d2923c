"""compositor=moviepy renders the same timeline: same duration, streams, loudness, a fade through black, and the
music stem the ducking depth is measured from."""

import anyio
import numpy as np

from storyforge.models import Artifact, Video
from storyforge.quality import DUCKING_WAV, duck_depth
from storyforge.services.compositor.moviepy import MoviePyCompositor, duck
from storyforge.services.ffmpeg import probe
from tests.services.test_ffmpeg_compositor import black_spans, loudness, make, overlaps


def test_moviepy_backend_matches_the_timeline(tmp_path):
    tl, visuals, clips, music, srt = make(tmp_path, tail_s=0.5)
    out = tmp_path / "mp.mp4"
    duration = anyio.run(
        lambda: MoviePyCompositor(preset="ultrafast").compose(tl, visuals, clips, music, srt, out, log_dir=tmp_path)
    )
    assert abs(duration - tl.duration_s) <= 1 / tl.fps
    assert [s["type"] for s in probe(out)["streams"]] == ["video", "audio", "subtitle"]
    assert abs(loudness(out) + 16.0) <= 1.0
    scene_change = next(e for e in tl.entries if e.transition_in == "fade_black")
    assert overlaps(black_spans(out), scene_change.start_s, scene_change.start_s + scene_change.transition_s)
    art = Artifact(name=out.name, media_type="video/mp4", path=out)
    video = Video(mp4=art, subtitles=art, timeline=tl, duration_s=duration)
    assert abs(duck_depth(video, tmp_path / DUCKING_WAV) - 15.0) <= 0.2  # ducking by spans: exactly the setting


def test_ducking_by_spans_lowers_only_inside_them():
    t = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    frames = duck([(0.5, 1.0), (2.0, 2.5)], 0.1)(lambda t: np.ones((len(t), 2)), t)
    assert np.allclose(frames[:, 0], [1, 0.1, 0.1, 1, 0.1, 0.1, 1]) and frames.shape == (7, 2)
    assert np.allclose(duck([], 0.1)(lambda t: np.ones((len(t), 2)), t), 1.0)
