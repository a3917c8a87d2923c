"""Ingest chunking and summaries, per-chunk scene splitting, and the coverage checks that catch weak models."""

from __future__ import annotations

import json
import logging

import pytest

from storyforge import rules
from storyforge import text as tx
from storyforge.errors import StageFailed
from storyforge.resources import resource_dir
from tests.conftest import FIXTURES
from tests.support.chat_server import ChatServer
from tests.support.stories import ingest

EXAMPLE = resource_dir("assets") / "mock" / "example_story.txt"


def test_a_story_over_the_budget_is_chunked_without_losing_a_word():
    story = ingest(EXAMPLE.read_text(), budget=150)
    assert len(story.chunks) > 3 and all(c.tokens <= 150 for c in story.chunks)
    assert tx.words(" ".join(c.text for c in story.chunks)) == tx.words(story.text)
    assert story.tokens == sum(c.tokens for c in story.chunks)
    assert story.summarized and all(c.summary for c in story.chunks)
    whole = ingest(EXAMPLE.read_text(), budget=6000)  # the same cast as from the whole text at once
    assert story.summary and [c.name for c in story.characters][:2] == [c.name for c in whole.characters][:2]


def test_chunks_follow_chapter_boundaries():
    chapter = "A fox ran along the river bank and looked for the old bridge. " * 8
    text = "\n\n".join(f"Chapter {n}\n\n{chapter}\n\n{chapter}" for n in (1, 2, 3))
    story = ingest(text, budget=300)
    assert [c.sections[0].heading for c in story.chunks] == ["Chapter 1", "Chapter 2", "Chapter 3"]


def test_a_story_that_fits_is_one_chunk_and_not_summarised():
    story = ingest(EXAMPLE.read_text(), budget=6000)
    assert len(story.chunks) == 1 and not story.summarized and story.chunks[0].summary == ""


def test_summarize_never_reads_the_first_chunk_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="storyforge"):
        story = ingest(EXAMPLE.read_text(), budget=150, summarize="never")
    assert not story.summarized and "summarize=never" in caplog.text


def test_a_long_story_runs_end_to_end_with_the_summary_in_the_manifest(run):
    result = run(f"story={EXAMPLE}", "++llm.context_budget=150")
    assert result.manifest.status == "succeeded"
    notes = result.manifest.stages["story"].items[0].notes
    assert notes["token_counter"] == "estimate" and notes["context_budget"] == 150
    assert len(notes["chunks"]) > 3 and notes["summarized"] == list(range(1, len(notes["chunks"]) + 1))
    story = json.loads((result.run_dir / "story.json").read_text())
    scenes = json.loads((result.run_dir / "scenes.json").read_text())["scenes"]
    assert [s["index"] for s in scenes] == list(range(1, len(scenes) + 1))
    assert rules.coverage(story["text"], [s["text"] for s in scenes]) > 0.99  # merged in story order


def literal_model(scene_text=lambda text: text, narration=lambda text: text):
    """A chat server that answers like a model; what it copies of the scene and shot text is up to the test."""

    def reply(body: dict) -> str:
        system, user = body["messages"][0]["content"], body["messages"][1]["content"]
        schema = json.loads(system.split("\n", 1)[1])["title"]
        if schema == "StoryBible":
            return json.dumps({"characters": [{"name": "Anna"}], "locations": [], "summary": "A kite race."})
        if schema == "Summary":
            return json.dumps({"summary": "A kite race."})
        if schema == "SceneList":
            text = user.split("STORY:\n", 1)[1].strip()
            return json.dumps({"scenes": [{"index": 1, "title": "All", "text": scene_text(text)}]})
        text = user.split("SCENE TEXT:\n", 1)[1].strip()
        shot = {"scene_index": 1, "index": 1, "shot_type": "wide", "description": "A meadow at dawn.",
                "narration": narration(text), "duration_s": 4}  # fmt: skip
        return json.dumps({"scene_index": 1, "shots": [shot, {**shot, "index": 2, "shot_type": "close_up"}]})

    return reply


def openai_run(run, server, *overrides):
    return run(f"story={FIXTURES / 'two_scenes.txt'}", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test",
               *overrides)  # fmt: skip


def test_scene_splitting_runs_once_per_chunk_with_the_story_so_far(run):
    with ChatServer(literal_model()) as server:
        result = openai_run(run, server, "++llm.context_budget=40")
    splits = [r for r in server.requests if '"title":"SceneList"' in r["messages"][0]["content"]]
    chunks = result.manifest.stages["story"].items[0].notes["chunks"]
    assert len(chunks) > 1 and len(splits) == len(chunks)
    assert "The story so far: A kite race." in splits[1]["messages"][1]["content"]
    assert result.manifest.stages["scenes"].items[0].notes["fallback"] == []


def test_scenes_that_drop_the_story_fall_back_to_rules(run, caplog):
    first_sentence = lambda text: tx.sentences(text)[0]  # noqa: E731
    with ChatServer(literal_model(scene_text=first_sentence)) as server, caplog.at_level(logging.WARNING):
        result = openai_run(run, server)
    notes = result.manifest.stages["scenes"].items[0].notes
    assert notes["fallback"] == [1] and notes["coverage"][0] < 0.5 and notes["scenes"] == 2  # the story's own break
    assert "split by rules" in caplog.text and result.video is not None


def test_low_scene_coverage_can_fail_with_a_clear_error(run):
    first_sentence = lambda text: tx.sentences(text)[0]  # noqa: E731
    with ChatServer(literal_model(scene_text=first_sentence)) as server, pytest.raises(StageFailed) as err:
        openai_run(run, server, "++stages.scenes.on_low_coverage=fail")
    assert "min_coverage" in str(err.value) and "on_low_coverage=fallback" in err.value.cause.fix


def test_shots_that_skip_the_narration_get_the_scene_text_and_keep_their_pictures(run):
    with ChatServer(literal_model(narration=lambda text: "Something happens.")) as server:
        result = openai_run(run, server)
    notes = result.manifest.stages["plan"].items[0].notes
    assert notes["repair"] == "narration from the scene text" and notes["coverage"] < 0.2
    shots = json.loads((result.run_dir / "shots.json").read_text())["shots"]
    scene = json.loads((result.run_dir / "scenes.json").read_text())["scenes"][0]
    assert [s["description"] for s in shots] == ["A meadow at dawn."] * 2
    assert rules.coverage(scene["text"], [s["narration"] for s in shots]) == 1.0
