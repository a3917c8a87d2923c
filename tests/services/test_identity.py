"""The cast sheet and identity conditioning: a portrait per character, cached per character; the user's own
picture in place of one; IP-Adapter (tiny, random, saved like h94/IP-Adapter and loaded through diffusers'
`load_ip_adapter`) drawing each shot that shows a character from their portrait; and the identity figures in the
manifest, with and without conditioning."""

from __future__ import annotations

import importlib.util
import json

import anyio
import pytest
from PIL import Image

from storyforge.errors import ConfigError, StageFailed, StoryforgeError
from storyforge.models import Character, Shot, ShotType
from storyforge.services.video.diffusers_image import DiffusersImage
from tests.conftest import FIXTURES

needs_diffusers = pytest.mark.skipif(importlib.util.find_spec("diffusers") is None, reason="needs diffusers (the dev extra)")
STORY = f"story={FIXTURES / 'two_scenes.txt'}"
SHOT = Shot(scene_index=1, index=1, shot_type=ShotType.medium, description="Anna and Tom at the fence", narration="x",
            duration_s=3, characters=["Anna", "Tom"])  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny SD pipeline and a tiny IP-Adapter of each variant for it, in one h94/IP-Adapter-like folder."""
    from tests.support.tiny_diffusers import tiny_ip_adapter, tiny_sd

    root = tmp_path_factory.mktemp("identity")
    sd = tiny_sd(root / "sd")
    weights = {v: tiny_ip_adapter(root / "ip-adapter", sd, v) for v in ("plain", "plus", "full_face")}
    return {"sd": sd, "adapter": str(root / "ip-adapter"), "weights": weights}


def adapter_args(tiny, variant="plain"):
    return {"ip_adapter": tiny["adapter"], "ip_adapter_subfolder": "models", "ip_adapter_weight": tiny["weights"][variant],
            "image_encoder_folder": "image_encoder"}  # fmt: skip


def diffusers_overrides(tiny, *more):
    return (STORY, "profile=prod_gpu", "device=cpu", "dtype=float32", "llm=heuristic", "video=diffusers_image",
            f"video.model={tiny['sd']}", "video.width=64", "video.height=32", "video.steps=2", "video.threads=1",
            *(f"video.{k}={v}" for k, v in adapter_args(tiny).items()), "audio/tts=tone", "audio/music=synth",
            "stages.plan.shot_words=12", *more)  # fmt: skip


@needs_diffusers
@pytest.mark.parametrize("variant", ["plain", "plus", "full_face"])
def test_every_ip_adapter_variant_loads_and_draws_a_shot_from_the_portraits(tiny, tmp_path, variant):
    service = DiffusersImage(model=tiny["sd"], width=64, height=32, steps=2, threads=1, identity="ip_adapter",
                             **adapter_args(tiny, variant))  # fmt: skip
    anna = anyio.run(lambda: service.portrait(Character(name="Anna"), "a girl in a red coat", 1, tmp_path / "anna"))
    tom = anyio.run(lambda: service.portrait(Character(name="Tom"), "a boy in a green cap", 2, tmp_path / "tom"))
    assert Image.open(anna).size == (32, 32)  # a square head-and-shoulders view at the short side

    def draw(name, refs):
        return anyio.run(
            lambda: service.render(SHOT, 1, "two children at a fence", 3, tmp_path / name, references=refs)
        ).read_bytes()

    alone, with_anna, with_both = draw("none", {}), draw("anna", {"Anna": anna}), draw("both", {"Anna": anna, "Tom": tom})
    assert len({alone, with_anna, with_both}) == 3  # the portrait steers the picture; a second one steers its strip
    plain = DiffusersImage(model=tiny["sd"], width=64, height=32, steps=2, threads=1)
    unconditioned = anyio.run(lambda: plain.render(SHOT, 1, "two children at a fence", 3, tmp_path / "plain")).read_bytes()
    assert alone == unconditioned  # a shot without a portrait is the pipeline without the adapter
    embeds = anyio.run(lambda: service.embed([anna, tom]))
    assert len(embeds) == 2 and all(abs(sum(x * x for x in e) - 1) < 1e-4 for e in embeds)


@needs_diffusers
def test_sdxl_with_a_plus_adapter_in_sdxl_models_draws_from_two_portraits(tmp_path):
    from tests.support.tiny_diffusers import tiny_ip_adapter, tiny_sdxl

    xl = tiny_sdxl(tmp_path / "xl")
    weight = tiny_ip_adapter(tmp_path / "ip-adapter", xl, "plus", subfolder="sdxl_models", family="sdxl")
    service = DiffusersImage(
        model=xl,
        width=64,
        height=32,
        steps=2,
        threads=1,
        identity="ip_adapter",
        ip_adapter=str(tmp_path / "ip-adapter"),
        ip_adapter_weight=weight,
        image_encoder_folder="image_encoder",
    )  # fmt: skip  (ip_adapter_subfolder: sdxl_models, the default)
    anna = anyio.run(lambda: service.portrait(Character(name="Anna"), "a girl", 1, tmp_path / "anna"))
    tom = anyio.run(lambda: service.portrait(Character(name="Tom"), "a boy", 2, tmp_path / "tom"))
    pictures = {anyio.run(lambda refs=refs, n=n: service.render(SHOT, 1, "two children", 3, tmp_path / n, references=refs)).read_bytes()
                for n, refs in (("none", {}), ("anna", {"Anna": anna}), ("both", {"Anna": anna, "Tom": tom}))}  # fmt: skip
    assert len(pictures) == 3


@needs_diffusers
def test_a_missing_adapter_is_a_config_error_that_names_the_fix(tiny, tmp_path):
    service = DiffusersImage(model=tiny["sd"], width=64, height=32, steps=2, threads=1, identity="ip_adapter",
                             ip_adapter=str(tmp_path / "nowhere"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"video\.ip_adapter"):
        anyio.run(lambda: service.render(SHOT, 1, "x", 1, tmp_path / "a", references={}))


@needs_diffusers
def test_prod_gpu_with_ip_adapter_conditions_every_shot_that_shows_a_character(run, tiny):
    """The issue's end-to-end run: `profile=prod_gpu device=cpu video=diffusers_image video.identity=ip_adapter`."""
    result = run(*diffusers_overrides(tiny, "video.identity=ip_adapter"))
    assert result.manifest.status == "succeeded"
    shots = {s.id: s for s in result.outputs["shots"].value.shots}
    portraits = {p.name: p for p in result.outputs["portraits"].value}
    assert set(portraits) == {"Anna", "Tom"} and (result.run_dir / "cast" / "anna.png").is_file()
    for visual in result.outputs["visuals"].value:
        assert visual.conditioned_on == [n for n in shots[visual.shot_id].characters if n in portraits]
    assert any(len(v.conditioned_on) == 2 for v in result.outputs["visuals"].value)  # masks: both children at once
    quality = result.manifest.quality
    assert quality["identity_conditioned"] is True
    assert set(quality["identity_by_character"]) == {"Anna", "Tom"}
    for figures in quality["identity_by_character"].values():
        assert -1 <= figures["to_portrait"] <= 1 and figures["shots"] >= 1
    assert quality["identity_similarity"] is not None
    identity = json.loads((result.run_dir / "identity.json").read_text())
    assert identity["encoder"].endswith("models/image_encoder")


@needs_diffusers
def test_identity_is_measured_without_conditioning_too_and_the_adapter_redraws_nothing_then(run, tiny):
    plain = run(*diffusers_overrides(tiny))
    quality = plain.manifest.quality
    assert quality["identity_conditioned"] is False and set(quality["identity_by_character"]) == {"Anna", "Tom"}
    assert not any(v.conditioned_on for v in plain.outputs["visuals"].value)
    elsewhere = run(*diffusers_overrides(tiny, "video.ip_adapter_scale=0.9"))  # not conditioning: not part of a picture
    assert elsewhere.manifest.stages["visuals"].misses == 0 and elsewhere.manifest.stages["portraits"].misses == 0
    conditioned = run(*diffusers_overrides(tiny, "video.identity=ip_adapter"))
    assert conditioned.manifest.stages["portraits"].misses == 0  # portraits are drawn alike either way (scale 0)
    alone = {s.id for s in plain.outputs["shots"].value.shots if not s.characters}
    assert {i.item for i in conditioned.manifest.stages["visuals"].items if i.hit} <= alone


@needs_diffusers
def test_identity_figures_wait_for_their_encoder(tiny, tmp_path):
    missing = DiffusersImage(model=tiny["sd"], ip_adapter=str(tmp_path / "not-yet"))
    there = DiffusersImage(model=tiny["sd"], **adapter_args(tiny))
    assert missing.embedder().endswith("(missing)") and not there.embedder().endswith("(missing)")  # in the figures' key
    assert anyio.run(lambda: missing.embed([])) is None


@needs_diffusers
def test_a_users_picture_replaces_a_portrait_and_redraws_only_the_shots_that_show_them(run, tiny, tmp_path):
    first = run(*diffusers_overrides(tiny, "video.identity=ip_adapter"))
    picture = tmp_path / "tom.jpg"
    Image.new("RGB", (40, 60), (20, 120, 40)).save(picture)
    mine = run(*diffusers_overrides(tiny, "video.identity=ip_adapter", f"cast.tom.image={picture}"))
    portraits = mine.manifest.stages["portraits"]
    assert [i.item for i in portraits.items if not i.hit] == ["tom"]
    assert next(p for p in mine.outputs["portraits"].value if p.name == "Tom").source == "user"
    with_tom = {s.id for s in first.outputs["shots"].value.shots if "Tom" in s.characters}
    assert {i.item for i in mine.manifest.stages["visuals"].items if not i.hit} == with_tom
    edited = run(*diffusers_overrides(tiny, "video.identity=ip_adapter", "stages.cast.edits.Anna.description=a tall girl"))
    assert [i.item for i in edited.manifest.stages["portraits"].items if not i.hit] == ["anna"]
    with_anna = {s.id for s in first.outputs["shots"].value.shots if "Anna" in s.characters}
    assert {i.item for i in edited.manifest.stages["visuals"].items if not i.hit} == with_anna


def test_the_storyboard_draws_a_cast_card_per_character_cached_per_character(run, tmp_path):
    first = run(STORY)
    cards = sorted(p.name for p in (first.run_dir / "cast").glob("*.png"))
    assert cards == ["anna.png", "tom.png"]
    assert json.loads((first.run_dir / "identity.json").read_text())["characters"] == []  # no encoder: no figures
    assert "identity_similarity" not in first.manifest.quality
    edited = run(STORY, "stages.cast.edits.Tom.description=a boy with a blue kite")
    assert [i.item for i in edited.manifest.stages["portraits"].items if not i.hit] == ["tom"]
    assert (edited.run_dir / "cast" / "tom.png").read_bytes() != (first.run_dir / "cast" / "tom.png").read_bytes()


def test_full_body_views_are_drawn_beside_the_front_views(run):
    result = run(STORY, "stages.portraits.full_body=true")
    assert sorted(p.name for p in (result.run_dir / "cast").glob("*.png")) == [
        "anna.png", "anna_full_body.png", "tom.png", "tom_full_body.png"]  # fmt: skip
    assert all(p.full_body is not None for p in result.outputs["portraits"].value)


def test_cast_keys_take_names_ids_accents_dropped_and_numbers():
    from storyforge.models import character_id
    from storyforge.stages.cast import named

    cast = [Character(name=n) for n in ("Zoë Hart", "कमल", "कमला", "Mr. Bennet", "Mr Bennet")]
    assert named(cast, "Zoë Hart") is cast[0] and named(cast, "zoe_hart") is cast[0] and named(cast, "zoë_hart") is cast[0]
    assert character_id("कमल") != character_id("कमला")  # vowel signs are part of a name
    assert named(cast, "3") is cast[2] and named(cast, "कमला") is cast[2]
    with pytest.raises(ConfigError, match=r"cast\.mr_bennet could mean Mr\. Bennet or Mr Bennet.*cast\.4"):
        named(cast, "mr_bennet")
    assert named(cast, "Mr Bennet") is cast[4]  # the exact name is never ambiguous
    with pytest.raises(ConfigError, match=r"names no character.*zoe_hart \(1\)"):
        named(cast, "9")


def test_a_picture_that_cannot_be_read_names_the_key_and_the_fix(run, tmp_path):
    bad = tmp_path / "tom.png"
    bad.write_text("not a picture")
    with pytest.raises((StageFailed, StoryforgeError), match=r"cast\.tom\.image.*PNG, JPEG or WebP"):
        run(STORY, f"cast.tom.image={bad}")
    with pytest.raises((StageFailed, StoryforgeError), match=r"cast\.nobody names no character.*anna \(1\), tom \(2\)"):
        run(STORY, f"cast.nobody.image={bad}")
    with pytest.raises((StageFailed, StoryforgeError), match="is not a file"):
        run(STORY, f"cast.tom.image={tmp_path / 'missing.png'}")


def test_the_sweep_report_has_a_column_per_character_and_shows_the_cast_sheet(tmp_path):
    from storyforge.sweep import write_report

    for i, (conditioned, anna) in enumerate(((False, 0.41), (True, 0.83))):
        job = tmp_path / str(i)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- video.identity={'ip_adapter' if conditioned else 'none'}\n")
        (job / "cast").mkdir()
        Image.new("RGB", (6, 8)).save(job / "cast" / "anna.png")
        quality = {"identity_similarity": anna, "identity_conditioned": conditioned,
                   "identity_by_character": {"Anna": {"similarity": anna, "to_portrait": 0.5, "shots": 3}}}  # fmt: skip
        (job / "manifest.json").write_text(json.dumps({"status": "succeeded", "seconds": 1.0, "stages": {}, "quality": quality}))
    rows = write_report(tmp_path)
    assert [r["identity:Anna"] for r in rows] == [0.41, 0.83]
    assert all("identity_by_character" not in r for r in rows)
    assert "identity:Anna" in (tmp_path / "sweep.md").read_text().splitlines()[2]  # the table's header
    assert 'class="cast" src="1/cast/anna.png"' in (tmp_path / "sweep.html").read_text()
