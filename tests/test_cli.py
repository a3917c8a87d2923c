"""The command line as a user meets it: one clear error line and exit code 2 for bad input, profile choice."""

from pathlib import Path

import pytest

from storyforge.errors import StoryforgeError
from storyforge.profile import resolve_profile
from tests.conftest import cli


def write(path: Path, data: bytes | None = None, size: int | None = None) -> Path:
    with open(path, "wb") as f:
        if data is not None:
            f.write(data)
        if size is not None:
            f.truncate(size)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: write(d / "empty.txt", b"  \n\n"), "is empty"),
        (lambda d: d / "nowhere.txt", "does not exist"),
        (lambda d: write(d / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "is binary, not text"),
        (lambda d: write(d / "latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1")), "is not UTF-8 text"),
        (lambda d: write(d / "huge.txt", size=50_000_000), "is 50.0 MB"),
    ],
    ids=["empty", "missing", "binary", "latin1", "50MB"],
)
def test_bad_story_gives_one_line_and_exit_2(tmp_path, make, message):
    story = make(tmp_path)
    proc = cli("profile=debug_cpu", f"story={story}", f"cache.dir={tmp_path / 'c'}", f"output.dir={tmp_path / 'o'}", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("storyforge: error:") and message in lines[0] and "Fix:" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_recipe_naming_code_outside_storyforge_is_refused(tmp_path):
    proc = cli(
        "profile=debug_cpu",
        "stages.story._target_=os.system",
        f"cache.dir={tmp_path / 'c'}",
        f"output.dir={tmp_path / 'o'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "outside storyforge" in proc.stderr


def test_prod_gpu_without_its_models_fails_clearly(tmp_path):
    proc = cli("profile=prod_gpu", f"cache.dir={tmp_path / 'c'}", f"output.dir={tmp_path / 'o'}", cwd=tmp_path)
    assert proc.returncode == 2 and "Fix:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_misspelt_backend_or_stage_parameter_is_named(tmp_path):
    for key, where in (("llm.outptu_format=toon", "llm.outptu_format"), ("stages.visuals.continuty=keyframe", "continuty")):
        proc = cli("profile=debug_cpu", key, f"cache.dir={tmp_path / 'c'}", f"output.dir={tmp_path / 'o'}", cwd=tmp_path)
        assert proc.returncode == 2 and where in proc.stderr and "Traceback" not in proc.stderr


def test_dotenv_is_read_from_the_working_directory(tmp_path):
    (tmp_path / ".env").write_text("STORYFORGE_PROFILE=turbo\n")
    proc = cli(f"cache.dir={tmp_path / 'c'}", cwd=tmp_path, env={"STORYFORGE_PROFILE": None})
    assert proc.returncode == 2 and "STORYFORGE_PROFILE=turbo is not a profile" in proc.stderr


def test_profile_resolution(monkeypatch):
    monkeypatch.delenv("STORYFORGE_PROFILE", raising=False)
    assert resolve_profile(["profile=prod_gpu", "seed=1"]) == (["profile=prod_gpu", "seed=1"], "chosen on the command line")
    monkeypatch.setenv("STORYFORGE_PROFILE", "prod_gpu")
    assert resolve_profile(["seed=1"]) == (["seed=1", "profile=prod_gpu"], "from STORYFORGE_PROFILE")
    assert resolve_profile(["profile=debug_cpu"])[0] == ["profile=debug_cpu"]  # explicit beats the environment
    monkeypatch.setattr("storyforge.profile.detect_gpu", lambda: (False, "no GPU here"))
    monkeypatch.delenv("STORYFORGE_PROFILE")
    assert resolve_profile(["profile=auto"]) == (["profile=debug_cpu"], "auto: no GPU here")
    monkeypatch.setattr("storyforge.profile.detect_gpu", lambda: (True, "a GPU"))
    assert resolve_profile([])[0] == ["profile=prod_gpu"]
    with pytest.raises(StoryforgeError, match="profile=gpu is not a profile"):
        resolve_profile(["profile=gpu"])
