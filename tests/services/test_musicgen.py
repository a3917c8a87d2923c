"""audio/music=musicgen: the real transformers generate path, with a tiny random MusicGen saved and loaded like
a real checkpoint: continuation for beds longer than one chunk, the seed, and a clear error without weights."""

from __future__ import annotations

import importlib.util

import anyio
import numpy as np
import pytest

from storyforge.errors import StoryforgeError
from storyforge.media import read_wav
from storyforge.services.audio.music.musicgen import MusicGen
from tests.conftest import FIXTURES
from tests.support.tiny_models import tiny_musicgen

pytestmark = pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="needs transformers")
QUICK = {"bed_s": 2.5, "chunk_s": 1.0, "overlap_s": 0.4, "threads": 1}  # three generate calls: one, two continuations


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_musicgen(tmp_path_factory.mktemp("musicgen"))


def bed(model, seed: int, out) -> tuple[np.ndarray, int]:
    service = MusicGen(model=str(model), **QUICK)
    try:
        return read_wav(anyio.run(service.compose, "tense", seed, out))
    finally:
        service.close()


def test_a_bed_longer_than_a_chunk_continues_to_the_asked_length(tiny, tmp_path):
    samples, rate = bed(tiny, 1, tmp_path / "a.wav")
    assert rate == 32000 and len(samples) == int(2.5 * rate)
    assert np.isfinite(samples).all() and np.abs(samples).max() > 0.3  # normalised to the peak, not silence
    again, _ = bed(tiny, 1, tmp_path / "b.wav")
    other, _ = bed(tiny, 2, tmp_path / "c.wav")
    assert np.array_equal(samples, again) and not np.array_equal(samples, other)  # the seed decides


def test_the_prompt_comes_from_the_mood():
    service = MusicGen()
    assert "low strings" in service.prompt_for("tense") and "no vocals" in service.prompt_for("tense")
    assert service.prompt_for("eerie").startswith("eerie")  # an unknown mood is used as it is


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(StoryforgeError, match=r"audio\.music\.model"):
        MusicGen(model=str(tmp_path / "nowhere")).warm_up()


def test_a_run_scored_by_musicgen(run, tiny):
    result = run(f"story={FIXTURES / 'one_scene.txt'}", "audio/music=musicgen", f"audio.music.model={tiny}",
                 *(f"audio.music.{k}={v}" for k, v in QUICK.items()))  # fmt: skip
    assert result.manifest.status == "succeeded" and result.video is not None
    assert read_wav(result.run_dir / "music.wav")[1] == 32000


def test_per_scene_music_changes_bed_at_the_scene_change(run, tmp_path):
    """Two scenes of different moods: a bed each, laid under its scene and crossfaded at the change."""
    story = tmp_path / "moods.txt"
    story.write_text("The Fair\n\nAnna laughed and danced at the bright festival. Tom smiled and cheered.\n\n***\n\n"
                     "The storm came at night. Anna was afraid in the dark and cold, and Tom shivered.\n")  # fmt: skip
    result = run(f"story={story}", "stages.music.per_scene=true")
    music = result.outputs["music"].value
    assert music.scene_moods == {1: "joyful", 2: "tense"} and set(music.beds) == {"joyful", "tense"}
    timeline = result.outputs["compose"].value.timeline
    score, rate = read_wav(result.run_dir / "music_score.wav")
    assert len(score) == pytest.approx(timeline.duration_s * rate, abs=2)
    change = next(e.start_s for e in timeline.entries if e.scene_index == 2)
    joyful, tense = (read_wav(result.run_dir / "music" / f"{m}.wav")[0] for m in ("joyful", "tense"))
    head, begin, fade = int(0.5 * rate), int(change * rate), int(2.0 * rate)
    assert np.allclose(score[:head], joyful[:head], atol=1e-3)  # the first scene's bed from the start
    assert np.allclose(score[begin + fade : begin + fade + head], tense[fade : fade + head], atol=1e-3)  # then the next
