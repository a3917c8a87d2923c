"""llm=openai against a local server that speaks the chat-completions protocol."""

import time

import anyio
import pytest

from storyforge.errors import ConfigError, StoryforgeError
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
    assert all(c["mode"] == ("json_schema" if fmt == "json" else "grammar") and c["queue_s"] >= 0 for c in calls)


# What real servers answer, by their documented (or, for llama-cpp-python, observed) shapes.
LLAMA_CPP_PYTHON_JSON_SCHEMA = (
    500,
    {
        "error": {
            "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
            "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}\n\n  File "
            '"/site-packages/llama_cpp/server/app.py", line 376, in create_chat_completion\n',
            "type": "internal_server_error",
        }
    },
)
VLLM_CONTEXT = (
    400,
    {
        "object": "error",
        "message": "This model's maximum context length is 4096 tokens. However, you requested 5210 tokens "
        "(4186 in the messages, 1024 in the completion). Please reduce the length of the messages or completion.",
        "type": "BadRequestError",
        "code": 400,
    },
)


def like_llama_cpp_python(body: dict):
    return LLAMA_CPP_PYTHON_JSON_SCHEMA if (body.get("response_format") or {}).get("type") == "json_schema" else None


def test_a_500_that_refuses_json_schema_moves_to_the_next_form_and_the_form_is_remembered(tmp_path):
    with ChatServer([JSON], refuse=like_llama_cpp_python) as server:
        llm = OpenAILLM(model="m", base_url=server.base_url, state_dir=str(tmp_path), request_retries=3)
        assert len(anyio.run(llm.generate, "split_scenes", "Split.", SceneList, {}).scenes) == 2
        asked = [(r.get("response_format") or {}).get("type") for r in server.requests]
        assert asked == ["json_schema", "json_object"] and "schema" in server.requests[1]["response_format"]
        assert llm.usage[-1]["mode"] == "json_object_schema"
        again = OpenAILLM(model="m", base_url=server.base_url, state_dir=str(tmp_path))  # the next run
        anyio.run(again.generate, "split_scenes", "Split.", SceneList, {})
        assert server.requests[2]["response_format"]["type"] == "json_object" and len(server.requests) == 3
    assert "json_object_schema" in (tmp_path / "llm_modes.json").read_text()


def test_toon_is_asked_with_a_grammar_where_the_server_takes_one():
    with ChatServer([TOON]) as server:
        assert len(ask(server, output_format="toon").scenes) == 2
    assert server.requests[0]["grammar"].startswith("root ::= ")


def test_a_context_overflow_is_a_configuration_error_not_a_refused_format():
    with (
        ChatServer([JSON], refuse=lambda body: VLLM_CONTEXT) as server,
        pytest.raises(ConfigError, match="does not fit the model's context") as info,
    ):
        ask(server)
    assert "llm.context_budget" in info.value.fix and len(server.requests) == 1


def test_the_story_budget_is_checked_against_the_context_the_server_reports():
    models = {"object": "list", "data": [{"id": "m", "object": "model", "max_model_len": 4096}]}
    with ChatServer([JSON], models=models) as server:
        llm = OpenAILLM(model="m", base_url=server.base_url, context_budget=6000)
        with pytest.raises(ConfigError, match="do not fit the model's context of 4096 tokens") as info:
            anyio.run(llm.check_budget)
        assert "llm.context_budget=1572" in info.value.fix
        anyio.run(OpenAILLM(model="m", base_url=server.base_url, context_budget=1500).check_budget)  # fits
        anyio.run(OpenAILLM(model="other", base_url=server.base_url, context_budget=6000).check_budget)  # not said


def test_an_answer_cut_off_at_max_tokens_is_its_own_error_and_not_re_asked():
    with (
        ChatServer(['{"scenes": [{"index": 1, "title": "A", "te'], finish_reason="length") as server,
        pytest.raises(LLMOutputError, match=r"cut off at llm.max_tokens=1024") as info,
    ):
        ask(server)
    assert "raise llm.max_tokens" in info.value.fix and len(server.requests) == 1


def test_a_timeout_is_reported_as_one_and_the_long_generation_is_not_resent():
    with ChatServer([JSON], latency_s=2.5) as server:
        llm = OpenAILLM(model="m", base_url=server.base_url, timeout_s=0.5, request_retries=3)
        with pytest.raises(StoryforgeError, match=r"did not answer within llm.timeout_s=0.5 s"):
            anyio.run(llm.generate, "split_scenes", "x", SceneList, {})
        time.sleep(2.5)
    assert len(server.requests) == 1


def test_re_asks_carry_a_bounded_excerpt_and_never_grow():
    with ChatServer(["x" * 20_000, "y" * 20_000, JSON]) as server:
        assert len(ask(server).scenes) == 2
    for request in server.requests[1:]:
        assert len(request["messages"]) == 4 and len(request["messages"][2]["content"]) <= 600


def test_a_stage_failure_keeps_its_fix_and_a_configuration_problem_exits_2(tmp_path):
    from tests.conftest import cli

    done = cli("profile=debug_cpu", "llm=openai", "llm.model=m", "llm.base_url=http://127.0.0.1:9/v1",
               "llm.request_retries=0", f"cache.dir={tmp_path / 'c'}", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert "cannot reach the LLM server" in error and "Fix: start it, or set llm.base_url" in error and ".." not in error
    assert "HTTP Request" not in done.stderr


def test_a_pinned_form_the_server_refuses_is_a_configuration_error():
    with (
        ChatServer([JSON], refuse=like_llama_cpp_python) as server,
        pytest.raises(ConfigError, match=r"does not take structured output as llm\.structured=json_schema") as info,
    ):
        ask(server, structured="json_schema")
    assert "llm.structured=auto" in info.value.fix


def test_a_form_the_server_ignores_is_dropped_for_the_next():
    def reply(body: dict) -> str:  # like vLLM with `grammar`: the field is ignored, the model answers as it likes
        return TOON if "guided_regex" in body else "Sure! Here are the scenes: one, two."

    with ChatServer(reply) as server:
        llm = OpenAILLM(model="m", base_url=server.base_url, output_format="toon", request_retries=0)
        assert len(anyio.run(llm.generate, "split_scenes", "Split.", SceneList, {}).scenes) == 2
    assert "grammar" in server.requests[0] and "guided_regex" in server.requests[1]
    assert [c["mode"] for c in llm.usage] == ["grammar", "guided_regex"]


@pytest.mark.slow
def test_annotations_that_never_validate_leave_the_rules_pictures(run):
    from tests.conftest import FIXTURES

    with ChatServer(["no notes here"]) as server:
        result = run(f"story={FIXTURES / 'two_scenes.txt'}", "llm=openai", f"llm.base_url={server.base_url}",
                     "llm.model=m", "llm.role=annotate", "llm.max_retries=1")  # fmt: skip
    assert result.manifest.status == "succeeded" and result.video is not None
    plans = result.manifest.stages["plan"].items
    assert all(p.notes["annotated"] == 0 and "rules' pictures" in p.notes["repair"] for p in plans)
    assert all(s.description for s in result.outputs["shots"].value.shots)
