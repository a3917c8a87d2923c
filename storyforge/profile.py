"""`profile=auto`: pick debug_cpu or prod_gpu by GPU detection, before Hydra composes the config.

An explicit `profile=` on the command line wins, then `STORYFORGE_PROFILE` (or `EXECUTION_PROFILE`, the name the
original design uses), then detection: torch if it is importable, else `nvidia-smi`, else the CPU. The choice
and its reason are logged and kept in the manifest.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess

from storyforge.errors import StoryforgeError
from storyforge.models import ExecutionProfile

CHOICES = [p.value for p in ExecutionProfile]


def detect_gpu() -> tuple[bool, str]:
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return True, f"torch sees CUDA device '{torch.cuda.get_device_name(0)}'"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return False, "torch sees Apple MPS only; prod_gpu needs CUDA"
        return False, "torch is installed but sees no CUDA device"
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        if "GPU" in out:
            return True, f"nvidia-smi lists {out.strip().splitlines()[0]}"
        return False, "nvidia-smi is present but lists no GPU"
    return False, "no torch and no nvidia-smi: no GPU found"


def resolve_profile(overrides: list[str], pinned: str | None = None) -> tuple[list[str], str]:
    """Replace `profile=auto` (or no profile) with a concrete one; return the new overrides and the reason. `pinned`:
    the profile the chosen recipe names, which wins over the environment and detection."""
    given = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") == "profile"]
    value = given[-1].split("=", 1)[1] if given else ""
    if value and value != "auto":
        if "," not in value and value not in CHOICES:
            raise StoryforgeError(f"profile={value} is not a profile.", f"use one of {', '.join(CHOICES)}.")
        return overrides, "chosen on the command line"
    if pinned and pinned != "auto":
        return [*[o for o in overrides if o not in given], f"profile={pinned}"], "pinned by the recipe"
    name = next((n for n in ("STORYFORGE_PROFILE", "EXECUTION_PROFILE") if os.environ.get(n, "").strip()), "")
    env = os.environ.get(name, "").strip() if name else ""
    if env and env != "auto":
        if env not in CHOICES:
            raise StoryforgeError(f"{name}={env} is not a profile.", f"set it to one of {', '.join(CHOICES)}.")
        chosen, reason = env, f"from {name}"
    else:
        gpu, why = detect_gpu()
        chosen, reason = ("prod_gpu" if gpu else "debug_cpu"), f"auto: {why}"
    rest = [o for o in overrides if o not in given]
    return [*rest, f"profile={chosen}"], reason
