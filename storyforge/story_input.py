"""Reading the story file, with one clear error for each way it can be wrong."""

from __future__ import annotations

from pathlib import Path

from storyforge.errors import StoryforgeError
from storyforge.models import StoryInput


def read_story(path: str | Path | None, max_bytes: int) -> StoryInput:
    """The story as text. Missing, unreadable, binary, empty and oversized files are refused with a fix."""
    if not path:
        raise StoryforgeError("no story was given.", "pass story=PATH to a UTF-8 text file.")
    p = Path(path).expanduser()
    if not p.exists():
        raise StoryforgeError(f"the story file '{p}' does not exist.", "check the path given as story=PATH.")
    if not p.is_file():
        raise StoryforgeError(f"the story path '{p}' is not a file.", "pass story=PATH to a text file.")
    size = p.stat().st_size
    if size > max_bytes:
        raise StoryforgeError(
            f"the story file '{p}' is {size / 1e6:.1f} MB; storyforge reads stories up to {max_bytes / 1e6:.1f} MB.",
            "split the story into parts, or raise story_max_bytes=N if you mean it.",
        )
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise StoryforgeError(f"the story file '{p}' cannot be read: {exc.strerror}.", "check its permissions.") from exc
    if b"\x00" in data[:65536]:
        raise StoryforgeError(f"the story file '{p}' is binary, not text.", "pass a UTF-8 .txt or .md file.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StoryforgeError(
            f"the story file '{p}' is not UTF-8 text (bad byte at offset {exc.start}).",
            "save it as UTF-8 (for example: iconv -f latin1 -t utf-8), or pass a text file.",
        ) from exc
    if not text.strip():
        raise StoryforgeError(f"the story file '{p}' is empty.", "write the story into it, or pass another file.")
    return StoryInput(text=text, source=p.name)
