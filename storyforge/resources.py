"""Where storyforge's own files are: `conf/`, `recipes/` and `assets/` sit at the top of a checkout (and of an
editable install), and inside the package as `storyforge/_data/` in a wheel."""

from __future__ import annotations

from pathlib import Path

from storyforge.errors import StoryforgeError

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise StoryforgeError(
        f"storyforge's '{name}' folder is missing from this install.", "reinstall storyforge (pip install storyforge)."
    )


def asset(name: str) -> str:
    """Path of a bundled asset, e.g. `${sf.asset:example_story.txt}` in config."""
    return str(resource_dir("assets") / "mock" / name)


def source_root() -> Path | None:
    """The checkout storyforge runs from, when it runs from one (for the manifest's git commit)."""
    return _PACKAGE.parent if (_PACKAGE.parent / ".git").exists() else None
