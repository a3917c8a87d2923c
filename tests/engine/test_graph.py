"""The recipe checks that run before anything else: each names the recipe key and the fix."""

import pytest

from storyforge.engine.graph import build_graph
from storyforge.errors import ConfigError

LLM = {"llm": {"_target_": "storyforge.services.llm.heuristic.HeuristicLLM"}}


def stages(**extra):
    base = {
        "story": {"_target_": "storyforge.stages.ingest.Ingest", "needs": ["source"]},
        "scenes": {"_target_": "storyforge.stages.scenes.SplitScenes", "needs": ["story"]},
    }
    return {**base, **extra}


def test_a_valid_recipe_builds_in_order():
    graph = build_graph(stages(), LLM)
    assert graph.order == ["story", "scenes"]
    assert graph.nodes["scenes"].stage.llm is graph.services["llm"]


def test_target_outside_storyforge_is_refused():
    with pytest.raises(ConfigError, match=r"stages.evil._target_ is 'os.system', which is outside storyforge"):
        build_graph(stages(evil={"_target_": "os.system"}), LLM)


def test_unknown_stage_in_needs_names_the_key():
    with pytest.raises(ConfigError, match=r"stages.scenes.needs names 'stroy'.*Fix: use one of"):
        build_graph(stages(scenes={"_target_": "storyforge.stages.scenes.SplitScenes", "needs": ["stroy"]}), LLM)


def test_cycles_are_reported_with_the_cycle():
    cyclic = {
        "a": {"_target_": "storyforge.stages.scenes.SplitScenes", "needs": {"story": "b"}},
        "b": {"_target_": "storyforge.stages.scenes.SplitScenes", "needs": {"story": "a"}},
    }
    with pytest.raises(ConfigError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        build_graph(cyclic, LLM)


def test_a_service_nobody_configured_is_reported():
    with pytest.raises(ConfigError, match=r"stage 'story' uses service 'llm', but no llm is configured.*llm=<backend>"):
        build_graph(stages(), {})


def test_a_service_that_cannot_be_imported_says_what_to_do():
    with pytest.raises(
        ConfigError, match=r"llm._target_ 'storyforge.services.nope.Nope' cannot be imported.*Fix: pick another backend"
    ):
        build_graph(stages(), {"llm": {"_target_": "storyforge.services.nope.Nope"}})


def test_bad_params_name_the_key():
    with pytest.raises(ConfigError, match=r"stages.scenes.target_wrds: Extra inputs are not permitted"):
        build_graph(
            stages(scenes={"_target_": "storyforge.stages.scenes.SplitScenes", "needs": ["story"], "target_wrds": 3}), LLM
        )
    with pytest.raises(ConfigError, match=r"llm.max_characters: Input should be a valid integer"):
        build_graph(stages(), {"llm": {**LLM["llm"], "max_characters": "many"}})


def test_inputs_must_match_the_run_signature():
    with pytest.raises(
        ConfigError, match=r"stages.plan.needs gives inputs \['scenes'\] but PlanShots.run takes \['scene', 'story'\]"
    ):
        build_graph(
            stages(plan={"_target_": "storyforge.stages.shots.PlanShots", "needs": ["scenes"], "for_each": "scenes"}), LLM
        )


def test_an_empty_recipe_is_an_error():
    with pytest.raises(ConfigError, match="defines no stages"):
        build_graph({}, LLM)


def test_after_orders_stages_without_inputs_and_names_unknown_ones():
    cast = {"_target_": "storyforge.stages.cast.ApplyCastEdits", "needs": ["story"]}
    graph = build_graph(stages(cast={**cast, "after": ["scenes"]}), LLM)
    assert graph.nodes["cast"].after == ("scenes",) and graph.order.index("cast") > graph.order.index("scenes")
    with pytest.raises(ConfigError, match=r"stages.cast.after names \['nowhere'\]"):
        build_graph(stages(cast={**cast, "after": "nowhere"}), LLM)
    with pytest.raises(ConfigError, match="cycle"):
        build_graph(stages(cast={**cast, "after": ["cast"]}), LLM)
