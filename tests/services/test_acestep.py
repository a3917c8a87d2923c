"""audio/music=acestep: the real diffusers AceStepPipeline path, with a tiny random ACE-Step 1.5 saved and loaded
like a real checkpoint: the bed's length and rate, the seed, the caption from the mood, and a clear error
without weights."""

from __future__ import annotations

import importlib.util

import anyio
import numpy as np
import pytest

from storyforge.errors import StoryforgeError
from storyforge.media import read_wav
from storyforge.services.audio.music.acestep import AceStep
from tests.conftest import FIXTURES
from tests.support.tiny_acestep import RATE, tiny_acestep

pytestmark = pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="needs diffusers")
QUICK = {"bed_s": 2.5, "num_inference_steps": 2, "threads": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_acestep(tmp_path_factory.mktemp("acestep"))


def test_a_bed_of_the_asked_length_at_the_pipelines_rate(tiny, tmp_path):
    service = AceStep(model=str(tiny), **QUICK)
    try:
        beds = [read_wav(anyio.run(service.compose, "tense", seed, tmp_path / f"{i}.wav")) for i, seed in enumerate((1, 1, 2))]
    finally:
        service.close()
    (samples, rate), (again, _), (other, _) = beds
    assert rate == RATE and samples.shape == (int(2.5 * RATE), 2)  # stereo, the latent frames' excess trimmed
    assert np.isfinite(samples).all() and np.abs(samples).max() == pytest.approx(0.5, abs=1e-3)  # at the peak
    assert np.array_equal(samples, again) and not np.array_equal(samples, other)  # the seed decides


def test_the_prompt_comes_from_the_mood():
    service = AceStep()
    assert "low strings" in service.prompt_for("tense") and "no vocals" in service.prompt_for("tense")
    assert service.prompt_for("eerie").startswith("eerie")  # an unknown mood is used as it is
    assert service.params.lyrics == "[Instrumental]"  # nothing is sung over the narration


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(StoryforgeError, match=r"audio\.music\.model"):
        AceStep(model=str(tmp_path / "nowhere")).warm_up()


def test_a_run_scored_by_acestep(run, tiny):
    result = run(f"story={FIXTURES / 'one_scene.txt'}", "audio/music=acestep", f"audio.music.model={tiny}",
                 *(f"audio.music.{k}={v}" for k, v in QUICK.items()))  # fmt: skip
    assert result.manifest.status == "succeeded" and result.video is not None
    assert read_wav(result.run_dir / "music.wav")[1] == RATE
