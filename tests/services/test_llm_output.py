"""Reading model answers: fenced, wrapped in prose, truncated, in the other format, with wrong counts."""

import pytest
import toon_format

from storyforge.models import SceneList
from storyforge.services.llm.output import ReplyError, parse_reply, schema_hint

DATA = {
    "scenes": [{"index": 1, "title": "Harbour", "text": "Ilsa, at dawn."}, {"index": 2, "title": "Fog", "text": "Bram waits."}]
}
JSON = '{"scenes": [{"index": 1, "title": "Harbour", "text": "Ilsa, at dawn."}, {"index": 2, "title": "Fog", "text": "Bram waits."}]}'
TOON = toon_format.encode(DATA)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (JSON, "json"),
        (f"```json\n{JSON}\n```", "json"),
        (f"Sure! Here are the scenes:\n{JSON}\nLet me know if you need more.", "json"),
        (TOON, "toon"),
        (f"```toon\n{TOON}\n```", "toon"),
        (f"Here is the plan:\n{TOON}\nHope this helps!", "toon"),
        (TOON, "json"),  # asked for JSON, answered in TOON: still read
        (JSON, "toon"),  # and the other way round
        (TOON.replace("scenes[2]", "scenes[3]"), "toon"),  # a declared length that is off is read leniently
    ],
    ids=[
        "json",
        "json-fenced",
        "json-prose",
        "toon",
        "toon-fenced",
        "toon-prose",
        "toon-when-json",
        "json-when-toon",
        "toon-wrong-count",
    ],
)
def test_valid_answers_are_read(text, fmt):
    scenes = parse_reply(text, SceneList, fmt)
    assert [s.title for s in scenes.scenes] == ["Harbour", "Fog"] and scenes.scenes[0].text == "Ilsa, at dawn."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (JSON[:60], "invalid JSON"),  # truncated
        (TOON.replace('"Ilsa, at dawn."', '"Ilsa, at dawn.'), "invalid TOON"),  # unterminated string
        ('{"scenes": [{"index": "one", "title": "x"}]}', "does not match the schema"),
        ("I cannot help with that.", "no JSON object found"),
    ],
    ids=["truncated", "broken-toon", "schema", "refusal"],
)
def test_invalid_answers_raise_a_reply_error_that_says_why(text, message):
    with pytest.raises(ReplyError, match=message):
        parse_reply(text, SceneList, "toon" if "TOON" in message else "json")


def test_schema_hints_name_the_format():
    assert "JSON schema" in schema_hint(SceneList, "json") and '"scenes"' in schema_hint(SceneList, "json")
    assert "TOON" in schema_hint(SceneList, "toon") and "items[2]{id,name}:" in schema_hint(SceneList, "toon")
