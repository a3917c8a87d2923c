"""Hydra wiring: the `sf.*` resolvers, recipes registered as the `recipe` group, and composing a config
in-process (for tests and the API) the same way the CLI does."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from storyforge.profile import resolve_profile
from storyforge.resources import asset, resource_dir


def register() -> None:
    """Idempotent: resolvers, and every recipes/*.yaml stored in group `recipe` with package `_global_`."""
    from hydra.core.config_store import ConfigStore

    if not OmegaConf.has_resolver("sf.asset"):
        OmegaConf.register_new_resolver("sf.asset", asset)
    store = ConfigStore.instance()
    for path in sorted(resource_dir("recipes").glob("*.yaml")):
        store.store(group="recipe", name=path.stem, node=OmegaConf.load(path), package="_global_")


# Keys under these are validated by the stage's or service's own Params (unknown keys are errors that name
# the class), so a parameter that the YAML does not list can be set without Hydra's `++`.
VALIDATED = ("llm.", "video.", "audio.tts.", "audio.music.", "compositor.", "stages.", "executor.")


def expand_overrides(overrides: list[str]) -> list[str]:
    """`llm.output_format=toon` -> `++llm.output_format=toon` for keys that Params validate (add or set)."""
    return [f"++{o}" if o.startswith(VALIDATED) and "=" in o else o for o in overrides]


def recipe_names() -> list[str]:
    return sorted(p.stem for p in resource_dir("recipes").glob("*.yaml"))


def compose(overrides: list[str] | None = None) -> tuple[DictConfig, str]:
    """The composed config for these overrides (profile=auto resolved first), and why that profile."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    overrides, reason = resolve_profile(expand_overrides(list(overrides or [])))
    register()
    with initialize_config_dir(config_dir=str(resource_dir("conf")), version_base="1.3", job_name="storyforge"):
        cfg = hydra_compose(config_name="config", overrides=overrides)
    return cfg, reason
