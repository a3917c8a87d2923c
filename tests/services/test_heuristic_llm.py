"""The rule-based planner does a useful job: scenes at explicit breaks, grouped paragraphs otherwise, varied shots."""

import anyio
import pytest
from omegaconf import OmegaConf

from storyforge import text as tx
from storyforge.config import compose
from storyforge.models import SceneList, ScenePlan, Story
from storyforge.resources import asset
from storyforge.services.llm.heuristic import HeuristicLLM
from tests.support.stories import ingest

llm = HeuristicLLM()


def story_of(raw: str) -> Story:
    return ingest(raw)


def scenes_of(raw: str, target_words: int = 220) -> SceneList:
    return anyio.run(llm.generate, "split_scenes", "", SceneList, {"story": story_of(raw), "target_words": target_words})


@pytest.mark.parametrize(
    "raw",
    [
        "One here.\n\n***\n\nTwo here.\n\n* * *\n\nThree here.",
        "Chapter 1\n\nOne here.\n\nChapter 2\n\nTwo here.\n\nCHAPTER THREE\n\nThree here.",
        "INT. KITCHEN - DAY\n\nOne here.\n\nEXT. GARDEN - NIGHT\n\nTwo here.\n\nINT. HALL - NIGHT\n\nThree here.",
        "One here.\n\n\n\nTwo here.\n\n\n\nThree here.",
    ],
    ids=["asterisks", "chapters", "sluglines", "blank-runs"],
)
def test_scenes_split_at_explicit_breaks(raw):
    assert [s.text for s in scenes_of(raw).scenes] == ["One here.", "Two here.", "Three here."]


def test_without_breaks_paragraphs_are_grouped_to_a_target_length():
    raw = "\n\n".join(f"Paragraph {i} has exactly seven words here." for i in range(12))
    scenes = scenes_of(raw, target_words=20).scenes
    assert len(scenes) == 4 and all(s.text.count("Paragraph") == 3 for s in scenes)


def test_example_story_plan_is_useful():
    story = story_of(open(asset("example_story.txt")).read())
    assert {c.name for c in story.characters} == {"Ilsa", "Bram"}
    assert "braids" in next(c for c in story.characters if c.name == "Ilsa").description
    assert "Saltmere" in {loc.name for loc in story.locations}
    scenes = anyio.run(llm.generate, "split_scenes", "", SceneList, {"story": story, "target_words": 220}).scenes
    assert len(scenes) == 4
    shots = [
        shot
        for scene in scenes
        for shot in anyio.run(
            llm.generate, "plan_shots", "", ScenePlan, {"story": story, "scene": scene, "shot_words": 35, "words_per_minute": 160}
        ).shots
    ]
    assert len({s.shot_type for s in shots}) >= 4  # varied
    narrated = " ".join(s.narration for s in shots)
    assert all(sentence in narrated for sentence in tx.sentences(scenes[0].text))  # the whole story is narrated


def test_hindi_story_splits_into_sentences_and_scenes():
    story = story_of(open(asset("example_story_hi.txt")).read())
    assert story.language == "hi" and {"गौरी", "कबीर"} <= {c.name for c in story.characters}
    scenes = anyio.run(llm.generate, "split_scenes", "", SceneList, {"story": story, "target_words": 220}).scenes
    assert len(scenes) == 2
    assert all(s.rstrip('”’"').endswith(("।", "?", "!")) for s in tx.sentences(scenes[0].text))


def test_llm_parallel_raises_the_limit(monkeypatch):
    from storyforge.engine.graph import build_graph

    def concurrency() -> int:
        cfg, _ = compose(["profile=debug_cpu", "++llm.max_concurrency=1", "++llm.parallel_limit=6"])
        llm_cfg = OmegaConf.to_container(cfg.llm, resolve=True)
        graph = build_graph(
            {"s": {"_target_": "storyforge.stages.scenes.SplitScenes", "needs": {"story": "source"}}}, {"llm": llm_cfg}
        )
        return graph.services["llm"].concurrency

    monkeypatch.setenv("LLM_PARALLEL", "false")
    sequential = concurrency()
    monkeypatch.setenv("LLM_PARALLEL", "true")
    assert sequential == 1 and concurrency() == 6
