"""llm=openai against a local server that speaks the chat-completions protocol."""

import anyio
import pytest

from storyforge.errors import StoryforgeError
from storyforge.models import SceneList
from storyforge.services.llm.base import LLMOutputError
from storyforge.services.llm.openai import OpenAILLM
from tests.services.test_llm_output import JSON, TOON
from tests.support.chat_server import ChatServer


def ask(server: ChatServer, **params) -> SceneList:
    llm = OpenAILLM(model="test-model", base_url=server.base_url, request_retries=2, timeout_s=10, **params)
    return anyio.run(llm.generate, "split_scenes", "Split this story.", SceneList, {})


def test_a_valid_answer_uses_json_schema_and_counts_tokens():
    with ChatServer([JSON]) as server:
        assert len(ask(server).scenes) == 2
    request = server.requests[0]
    assert request["response_format"]["type"] == "json_schema" and request["model"] == "test-model"
    assert "JSON schema" in request["messages"][0]["content"]


def test_a_server_without_response_format_falls_back_to_the_parser():
    with ChatServer([f"```json\n{JSON}\n```"], reject_response_format=True) as server:
        assert len(ask(server).scenes) == 2
    assert "response_format" not in server.requests[-1]


def test_toon_output_format():
    with ChatServer([TOON]) as server:
        assert len(ask(server, output_format="toon").scenes) == 2
    assert "TOON" in server.requests[0]["messages"][0]["content"] and "response_format" not in server.requests[0]


def test_invalid_answers_are_re_asked_with_the_error():
    with ChatServer(["not json at all", JSON]) as server:
        assert len(ask(server).scenes) == 2
    retry = server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "not json at all"}
    assert "could not be used" in retry[-1]["content"]


def test_after_max_retries_the_error_is_clear_and_keeps_the_last_answer():
    with (
        ChatServer(['{"scenes": "nope"}']) as server,
        pytest.raises(LLMOutputError, match="did not validate after 3 attempts") as info,
    ):
        ask(server, max_retries=2)
    assert info.value.raw_output == '{"scenes": "nope"}' and len(server.requests) == 3


def test_429_and_5xx_are_retried_with_backoff():
    with ChatServer([JSON], statuses=[429, 503]) as server:
        assert len(ask(server).scenes) == 2
    assert len(server.requests) == 3


def test_an_unreachable_server_is_one_clear_error():
    llm = OpenAILLM(model="m", base_url="http://127.0.0.1:9/v1", request_retries=0, timeout_s=2)
    with pytest.raises(StoryforgeError, match="cannot reach the LLM server"):
        anyio.run(llm.generate, "split_scenes", "x", SceneList, {})


def test_llm_parallel_lets_calls_overlap_up_to_the_limit():
    async def eight(llm):
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(llm.generate, "t", "p", SceneList, {})

    with ChatServer([JSON], latency_s=0.05) as server:
        anyio.run(eight, OpenAILLM(model="m", base_url=server.base_url, max_concurrency=1))
    assert server.max_in_flight == 1
    with ChatServer([JSON], latency_s=1.0) as server:
        anyio.run(eight, OpenAILLM(model="m", base_url=server.base_url, max_concurrency=1, parallel=True, parallel_limit=4))
    assert server.max_in_flight == 4


def story_server_reply(body: dict) -> str:
    """Answers like a (very literal) model, in the format the system prompt asks for."""
    import json as _json

    import toon_format

    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    if '"title":"StoryBible"' in system:
        data = {
            "characters": [{"name": "Anna", "description": "a girl with a red kite"}],
            "locations": [],
            "summary": "A kite race.",
        }
    elif '"title":"SceneList"' in system:
        data = {"scenes": [{"index": 1, "title": "All of it", "text": user.split("STORY:\n", 1)[1].strip()}]}
    else:
        text = user.split("SCENE TEXT:\n", 1)[1].strip()
        data = {
            "scene_index": 1,
            "shots": [
                {
                    "scene_index": 1,
                    "index": 1,
                    "shot_type": "wide",
                    "description": "A meadow.",
                    "narration": text,
                    "duration_s": 4,
                }
            ],
        }
    return toon_format.encode(data) if system.startswith("Answer in TOON") else _json.dumps(data)


@pytest.mark.parametrize("fmt", ["json", "toon"])
def test_a_whole_run_with_llm_openai(run, fmt):
    from tests.conftest import FIXTURES

    with ChatServer(story_server_reply) as server:
        result = run(f"story={FIXTURES / 'two_scenes.txt'}", "llm=openai", f"llm.base_url={server.base_url}", "llm.model=test",
                     f"++llm.output_format={fmt}")  # fmt: skip
    assert result.manifest.status == "succeeded" and result.video is not None
    assert result.manifest.stages["plan"].misses == 1  # one scene, one call
    assert all(("TOON" in r["messages"][0]["content"]) == (fmt == "toon") for r in server.requests)
    calls = result.manifest.llm_calls
    assert [c["task"] for c in calls] == ["story_bible", "split_scenes", "plan_shots"] and all(
        c["prompt_tokens"] > 0 for c in calls
    )
