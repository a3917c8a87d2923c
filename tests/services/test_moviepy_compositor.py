"""compositor=moviepy renders the same timeline: same duration, streams, loudness, and a fade through black."""

import anyio

from storyforge.services.ffmpeg import probe
from storyforge.services.moviepy_compositor import MoviePyCompositor
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
