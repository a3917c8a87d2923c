"""Hydra wiring: the `sf.*` resolvers, recipes registered as the `recipe` group, and composing a config
in-process (for tests and the API) the same way the CLI does."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from storyforge.errors import StoryforgeError
from storyforge.profile import resolve_profile
from storyforge.resources import asset, resource_dir


def register() -> None:
    """Idempotent: resolvers, and every recipes/*.yaml stored in group `recipe` with package `_global_` (the bundled
    ones, and those in a `recipes/` folder where storyforge is run)."""
    from hydra.core.config_store import ConfigStore

    if not OmegaConf.has_resolver("sf.asset"):
        OmegaConf.register_new_resolver("sf.asset", asset)
    store = ConfigStore.instance()
    for path in sorted(resource_dir("recipes").glob("*.yaml")):
        store.store(group="recipe", name=path.stem, node=OmegaConf.load(path), package="_global_")
    local = Path.cwd() / "recipes"
    if local.is_dir() and local.resolve() != resource_dir("recipes").resolve():
        for path in sorted(local.glob("*.yaml")):
            if path.stem in recipe_names():  # a bundled recipe keeps its name
                continue
            try:
                store.store(group="recipe", name=path.stem, node=_load_recipe(path), package="_global_")
            except StoryforgeError as exc:  # a broken file nobody asked for must not stop every run
                logging.getLogger("storyforge").warning("recipes/%s is skipped: %s", path.name, exc)


def recipe_files(overrides: list[str]) -> list[str]:
    """`recipe=path/to/file.yaml` (a recipe of one's own, or one the studio exported): registered as a recipe under
    its file name, and the override rewritten to that name, so Hydra composes it like a bundled recipe (it may build
    on one: `defaults: [short_story, _self_]`)."""
    from hydra.core.config_store import ConfigStore

    out = []
    for override in overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+~") == "recipe" and value.endswith((".yaml", ".yml")):
            path = Path(value).expanduser()
            if not path.is_file():
                raise StoryforgeError(f"recipe={value}: there is no such file.", "give the path of a recipe YAML file, "
                                      f"or a recipe name: {', '.join(recipe_names())}.")  # fmt: skip
            name = path.stem
            if name in recipe_names():
                raise StoryforgeError(f"recipe={value} has the name of a bundled recipe ('{name}').",
                                      "rename the file (the name is how runs and sweeps refer to it).")  # fmt: skip
            ConfigStore.instance().store(group="recipe", name=name, node=_load_recipe(path), package="_global_")
            override = f"{key}={name}"
        out.append(override)
    return out


def _load_recipe(path: Path) -> DictConfig:
    try:
        node = OmegaConf.load(path)
    except Exception as exc:  # YAML errors come in several classes
        raise StoryforgeError(f"the recipe {path} is not valid YAML: {exc}".rstrip("."), "fix the file.") from exc
    if not isinstance(node, DictConfig):
        raise StoryforgeError(f"the recipe {path} is not a YAML mapping.", "a recipe sets keys, e.g. 'stages:'.")
    return node


def pinned_profile(overrides: list[str]) -> str | None:
    """The profile the chosen recipe pins (`defaults: [override /profile: debug_cpu]`, as an exported recipe does)."""
    from hydra.core.config_store import ConfigStore

    chosen = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "recipe"]
    name = chosen[-1] if chosen else "short_story"
    try:
        node = ConfigStore.instance().load(f"recipe/{name}.yaml").node
    except Exception:  # an unknown recipe: Hydra says so when it composes
        return None
    for entry in node.get("defaults") or []:
        if isinstance(entry, DictConfig | dict):
            for key, value in entry.items():
                if str(key).replace("override", "").strip().strip("/") == "profile" and value:
                    return str(value)
    return None


# Keys under these are validated by the stage's or service's own Params (unknown keys are errors that name
# the class), so a parameter that the YAML does not list can be set without Hydra's `++`.
VALIDATED = ("llm.", "video.", "audio.tts.", "audio.music.", "compositor.", "stages.", "executor.", "cast.")


def expand_overrides(overrides: list[str]) -> list[str]:
    """`llm.output_format=toon` -> `++llm.output_format=toon` for keys that Params validate (add or set)."""
    return [f"++{o}" if o.startswith(VALIDATED) and "=" in o else o for o in overrides]


def prepare(overrides: list[str]) -> tuple[list[str], str]:
    """The overrides as Hydra takes them, the CLI's and compose()'s alike: recipes registered (a recipe file's path
    replaced by its name), validated keys made `++`, `profile=auto` resolved (a recipe's pinned profile first).
    Returns them and why that profile."""
    register()
    overrides = recipe_files(expand_overrides(overrides))
    return resolve_profile(overrides, pinned_profile(overrides))


def recipe_names() -> list[str]:
    return sorted(p.stem for p in resource_dir("recipes").glob("*.yaml"))


def compose(overrides: list[str] | None = None) -> tuple[DictConfig, str]:
    """The composed config for these overrides (profile=auto resolved first), and why that profile."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides, reason = prepare(list(overrides or []))
    with initialize_config_dir(config_dir=str(resource_dir("conf")), version_base="1.3", job_name="storyforge"):
        cfg = hydra_compose(config_name="config", overrides=overrides)
    return cfg, reason
