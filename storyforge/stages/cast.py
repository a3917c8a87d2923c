"""`ApplyCastEdits`: the story with the user's edits to its cast applied: a character's look (the description
every picture of them is drawn from), their dialogue voice, and their own picture for the cast sheet.

It sits between ingest and the per-character and per-shot stages, not in ingest, so editing a character never
re-reads the story or re-plans a scene: that character's portrait and the pictures that show them are redrawn
(the cast sheet and RenderShot key each picture on the characters it shows), the lines they speak re-voiced;
everything else comes from the cache. Examples:
- `stages.cast.edits.Alice.description="a tall woman in a green coat"`
- `cast.alice.image=photos/alice.png`: the user's picture is Alice's portrait (`cast.<name>` takes the name as
  story.json spells it, its id: lower case with `_` for spaces, `cast.elizabeth_bennet.image=...`, the id
  without accents, or the character's number in story.json: `cast.2.image=...`). The picture's bytes are part
  of the key, so replacing the file at the same path is seen.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from pydantic import Field

from storyforge.engine.cache import file_sha256
from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import ConfigError, StoryforgeError
from storyforge.models import Artifact, Character, CharacterEdit, Story, character_id

PICTURE_FIX = "give the path of a PNG, JPEG or WebP file (relative paths are from where storyforge runs)."


class CastPicture(Params):
    image: str  # a PNG/JPEG/WebP file (relative paths: from where storyforge runs)


class ApplyCastEdits(Stage):
    version = "2"  # 2: the user's own pictures (cast.<name>.image)

    class Params(Params):
        edits: dict[str, CharacterEdit] = {}  # character name (as in story.json) -> description and/or voice
        # character name or id -> their own picture (conf: `cast`); keyed by the pictures' bytes (key_extra), not paths
        pictures: dict[str, CastPicture] = Field(default_factory=dict, json_schema_extra={"cache_key": False})

    def key_extra(self) -> dict:
        """The pictures' bytes, so a picture replaced at the same path is seen."""
        pictures = sorted(self.params.pictures.items())
        return {"pictures": {name: _digest(name, Path(p.image)) for name, p in pictures}} if pictures else {}

    async def run(self, ctx: RunContext, story: Story) -> Story:
        if not self.params.edits and not self.params.pictures:
            return story
        names = [c.name for c in story.characters]
        if unknown := sorted(set(self.params.edits) - set(names)):
            raise StoryforgeError(
                f"stages.cast.edits names characters {unknown} that the story's cast does not have.",
                f"use names from story.json's characters: {', '.join(names[:8]) or '(the cast is empty)'}.",
            )
        pictures = self._pictures(story, ctx)
        cast = []
        for c in story.characters:
            changes = self.params.edits[c.name].changes() if c.name in self.params.edits else {}
            cast.append(Character.model_validate({**c.model_dump(), **changes, "image": pictures.get(c.name)}))
        return story.model_copy(update={"characters": cast})

    def _pictures(self, story: Story, ctx: RunContext) -> dict[str, Artifact]:
        """name -> the user's picture for them, checked and stored as an RGB PNG."""
        out: dict[str, Artifact] = {}
        for key, picture in self.params.pictures.items():
            character = named(story.characters, key)
            if character.name in out:
                raise ConfigError(f"cast.{key} names {character.name}, who already has a picture.", "give each character one.")
            path = Path(picture.image).expanduser()
            try:
                with Image.open(path) as image:
                    rgb = image.convert("RGB")
            except (OSError, UnidentifiedImageError) as exc:
                raise ConfigError(
                    f"cast.{key}.image={picture.image} could not be read as a picture ({exc.__class__.__name__}).",
                    PICTURE_FIX,
                ) from None
            out_path = ctx.path(f"{character.id}.png")
            rgb.save(out_path, format="PNG")
            out[character.name] = Artifact(name=f"cast/{character.id}.png", media_type="image/png", path=out_path)
        return out


def named(cast: list[Character], key: str) -> Character:
    """The character `cast.<key>` means: by name as story.json spells it, else by id (`elizabeth_bennet`), its
    accents dropped (`zoe` for Zoë: Hydra's keys are ASCII), else by number in story.json's list (`cast.1`: for
    names no ASCII key can spell, as in Devanagari). Two characters behind one key is an error."""

    def ascii_id(name: str) -> str:
        return character_id(unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode())

    folded = ascii_id(key)
    for match in (lambda c: c.name == key, lambda c: c.id == character_id(key),
                  lambda c: folded != "unnamed" and ascii_id(c.name) == folded):  # fmt: skip
        found = [c for c in cast if match(c)]
        if len(found) > 1:
            raise ConfigError(f"cast.{key} could mean {' or '.join(c.name for c in found)}.",
                              f"use their number in story.json's characters instead: cast.{cast.index(found[0]) + 1}, ...")  # fmt: skip
        if found:
            return found[0]
    if key.isdigit() and 1 <= int(key) <= len(cast):
        return cast[int(key) - 1]
    ids = ", ".join(f"{a if (a := ascii_id(c.name)) != 'unnamed' else c.id} ({i})" for i, c in enumerate(cast[:8], 1))
    raise ConfigError(
        f"cast.{key} names no character of this story.", f"use one of these ids (or numbers): {ids or '(the cast is empty)'}."
    )


def _digest(key: str, path: Path) -> str:
    try:
        return file_sha256(path.expanduser())
    except OSError:
        raise ConfigError(
            f"cast.{key}.image={path} is not a file storyforge can read.",
            PICTURE_FIX,
        ) from None
