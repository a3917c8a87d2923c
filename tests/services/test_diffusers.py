"""video=diffusers_*: the real diffusers code paths with tiny random pipelines saved and loaded like real
checkpoints: keyframes, image-to-video for every supported family, continuity within a scene, seeds, errors,
and profile=prod_gpu end to end on the CPU."""

from __future__ import annotations

import importlib.util
import json

import anyio
import pytest

from storyforge.errors import StoryforgeError
from storyforge.models import Shot, ShotType
from storyforge.services.ffmpeg import probe
from storyforge.services.video.diffusers_i2v import DiffusersI2V
from storyforge.services.video.diffusers_image import DiffusersImage
from tests.conftest import FIXTURES

pytestmark = pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="needs diffusers (the dev extra)")
SHOT = Shot(scene_index=1, index=1, shot_type=ShotType.wide, description="A red kite", narration="Anna ran.", duration_s=3)
FAST = {"threads": 1, "steps": 2}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """name -> folder of a tiny pipeline, built once per test module."""
    from tests.support.tiny_diffusers import BUILDERS

    root = tmp_path_factory.mktemp("pipes")
    return {name: str(build(root / name)) for name, build in BUILDERS.items()}


def render(service, out, previous=None, continuity="none", seed=1):
    return anyio.run(lambda: service.render(SHOT, 1, "a red kite over a green hill", seed, out, previous, continuity))


def test_keyframes_are_seeded_pngs_at_the_configured_size(tiny, tmp_path):
    from PIL import Image

    service = DiffusersImage(model=tiny["sd"], width=72, height=40, **FAST)  # snapped to multiples of 16
    a, b, c = (render(service, tmp_path / n, seed=s) for n, s in (("a", 1), ("b", 1), ("c", 2)))
    assert Image.open(a).size == (64, 32) and a.suffix == ".png"
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()


def test_a_continued_keyframe_is_drawn_from_the_previous_picture(tiny, tmp_path):
    service = DiffusersImage(model=tiny["sd"], width=64, height=64, scheduler="EulerDiscreteScheduler", **FAST)
    first = render(service, tmp_path / "first")
    fresh = render(service, tmp_path / "fresh", seed=2)
    continued = render(service, tmp_path / "next", previous=first, continuity="keyframe", seed=2)
    assert continued.read_bytes() != fresh.read_bytes()  # image-to-image from `first`, same weights


@pytest.mark.parametrize(
    ("family", "size", "frames", "expect"),
    [("ltx", (32, 32), 10, 9), ("wan", (32, 32), 10, 9), ("cogvideox", (0, 0), 9, 9), ("svd", (32, 32), 3, 3)],
)
def test_every_image_to_video_family_makes_a_clip(tiny, tmp_path, family, size, frames, expect):
    service = DiffusersI2V(model=tiny[family], keyframe_model=tiny["sd"], width=size[0], height=size[1], num_frames=frames,
                           fps=8, keyframe_steps=2, **FAST)  # fmt: skip
    clip = render(service, tmp_path / family)
    video = next(s for s in probe(clip)["streams"] if s["type"] == "video")
    assert clip.suffix == ".mp4" and video["width"] == 32 and abs(probe(clip)["duration"] - expect / 8) < 0.15


def test_last_frame_continuity_animates_from_the_previous_clip(tiny, tmp_path):
    service = DiffusersI2V(model=tiny["ltx"], keyframe_model=tiny["sd"], width=32, height=32, num_frames=9, fps=8, **FAST)
    first = render(service, tmp_path / "first")
    loaded = set(service._pipes)
    second = render(service, tmp_path / "second", previous=first, continuity="last_frame", seed=2)
    assert second.suffix == ".mp4" and set(service._pipes) == loaded  # no keyframe drawn, nothing new loaded
    service.close()
    assert not service._pipes


def test_missing_weights_name_the_fix(tmp_path):
    with pytest.raises(StoryforgeError, match="HF_HOME"):
        render(DiffusersImage(model=str(tmp_path / "nowhere"), **FAST), tmp_path / "a")


def test_prod_gpu_on_the_cpu_with_tiny_models_and_continuity(run, tiny):
    result = run(
        f"story={FIXTURES / 'two_scenes.txt'}", "profile=prod_gpu", "device=cpu", "dtype=float32", "llm=heuristic",
        "video=diffusers_i2v", f"video.model={tiny['ltx']}", f"video.keyframe_model={tiny['sd']}", "video.width=64",
        "video.height=32", "video.num_frames=9", "video.fps=8", "video.steps=2", "video.keyframe_steps=2",
        "video.threads=1", "continuity=last_frame", "audio/tts=tone", "audio/music=synth",
        "stages.plan.shot_words=12",
    )  # fmt: skip
    assert result.manifest.status == "succeeded" and result.manifest.profile == "prod_gpu"
    visuals = result.outputs["visuals"].value
    assert visuals and all(v.is_clip for v in visuals)
    info = probe(result.video)
    assert [s["type"] for s in info["streams"]].count("video") == 1
    timeline = json.loads((result.run_dir / "video.json").read_text())["timeline"]
    assert abs(info["duration"] - timeline["duration_s"]) <= 0.5
    assert result.manifest.stages["visuals"].peak_gpu_mb is None  # no CUDA here


def test_editing_a_shot_rerenders_it_and_the_shots_after_it_in_its_scene(run, tiny):
    common = (f"story={FIXTURES / 'two_scenes.txt'}", "stages.plan.shot_words=12", "video=diffusers_image",
              f"video.model={tiny['sd']}", "video.width=64", "video.height=32", "video.steps=2", "video.threads=1",
              "continuity=keyframe")  # fmt: skip
    first = run(*common)
    shots = [v.shot_id for v in first.outputs["visuals"].value]
    assert len([s for s in shots if s.startswith("s01")]) >= 2
    edited = run(*common, "+stages.shots.edits.s01_01.description=A blue kite")
    missed = [i.item for i in edited.manifest.stages["visuals"].items if not i.hit]
    assert missed == [s for s in shots if s.startswith("s01")]  # s01_01 and those after it; scene 2 is a hit
