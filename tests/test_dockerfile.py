"""The Dockerfile cannot be built on the CI machine (no CUDA base image, no network); keep it consistent with
pyproject and the profiles instead: parsed with the `dockerfile` package (Docker's own parser)."""

import re
import tomllib

import dockerfile

from tests.conftest import ROOT

COMMANDS = dockerfile.parse_file(str(ROOT / "Dockerfile"))


def values(cmd: str) -> list[str]:
    return [" ".join(c.value) for c in COMMANDS if c.cmd == cmd.upper()]


def test_a_cuda_runtime_image_for_prod_gpu_run_as_a_user_with_a_health_check():
    assert values("from")[0].startswith("nvidia/cuda:") and "runtime" in values("from")[0]
    env = " ".join(values("env"))
    assert "STORYFORGE_PROFILE prod_gpu" in env and "EXECUTION_PROFILE prod_gpu" in env and "HF_HOME /models" in env
    assert values("user") and values("user")[-1] not in ("root", "0")
    assert values("healthcheck") and values("entrypoint") == ["storyforge"]


def test_installs_extras_that_exist_torch_first_and_copies_paths_that_exist():
    runs = values("run")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installs = [(i, m.group(1)) for i, r in enumerate(runs) if (m := re.search(r'pip install "\.\[([\w,]+)\]"', r))]
    assert installs and set(installs[0][1].split(",")) <= set(extras)
    torch_first = next(i for i, r in enumerate(runs) if "torch==" in r)
    assert torch_first < installs[0][0]
    for src in (c.value[0] for c in COMMANDS if c.cmd == "COPY"):
        assert (ROOT / src).exists(), src
    assert any("ffmpeg" in r and "espeak-ng" in r for r in runs)
