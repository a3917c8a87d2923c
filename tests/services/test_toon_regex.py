"""The TOON pattern that constrains local models: it must accept what the toon-format library writes."""

import re

import pytest
import toon_format

from storyforge.models import Character, SceneList, ScenePlan, Shot, StoryBible, Summary
from storyforge.services.llm.toon_regex import toon_regex

SHOT = {"scene_index": 1, "index": 1, "shot_type": "close_up", "camera": "slow, push in", "description": "A meadow, dawn",
        "narration": 'He said, "go" now', "duration_s": 4.5, "characters": ["Anna, a girl", "Tom, a boy"]}  # fmt: skip
CASES = [
    (ScenePlan, {"scene_index": 1, "shots": [SHOT, {**SHOT, "index": 2, "duration_s": 3, "characters": []}]}),
    (
        SceneList,
        {
            "scenes": [
                {
                    "index": 1,
                    "title": "A, b",
                    "text": "मीरा ने, कहा।",
                    "summary": "s, t",
                    "characters": ["A, a"],
                    "location": "l, m",
                    "mood": "calm, still",
                }
            ]
        },
    ),
    (
        StoryBible,
        {
            "characters": [{"name": "A, a", "aliases": ["b, c"], "description": "d, e", "mentions": 2}],
            "locations": [{"name": "p, q", "description": "r, s"}, {"name": "u, v", "description": "w, x"}],
            "summary": "z, z",
        },
    ),
    (Summary, {"summary": "hi, there"}),
]


def asked(answer) -> dict:
    """What a model is asked for: the answer without the fields its schema leaves out (checks; a shot's speech,
    take and transition; a character's voice)."""
    data = answer.model_dump(mode="json", exclude={"checks"})
    for key, model in (("shots", Shot), ("characters", Character)):
        wanted = set(model.model_json_schema()["properties"])
        data[key] = [{k: v for k, v in item.items() if k in wanted} for item in data.get(key, [])] if key in data else None
        if data[key] is None:
            data.pop(key)
    return data


@pytest.mark.parametrize(("model", "data"), CASES, ids=[m.__name__ for m, _ in CASES])
def test_the_pattern_matches_the_library_encoding(model, data):
    # strings with commas are quoted by the library, as the pattern requires
    text = toon_format.encode(asked(model.model_validate(data)))
    assert re.fullmatch(toon_regex(model.model_json_schema(), max_chars=100, max_items=4, lists_for_text=False), text)
    assert model.model_validate(toon_format.decode(text)) == model.model_validate(data)


def test_lists_of_flat_objects_with_free_text_are_asked_as_list_items_the_library_reads():
    pattern = toon_regex(StoryBible.model_json_schema(), max_chars=100, max_items=4)
    text = 'characters: []\nlocations[1]:\n  - name: "Saltmere"\n    description: "a grey harbour, gulls"\nsummary: "x"'
    assert re.fullmatch(pattern, text)
    assert StoryBible.model_validate(toon_format.decode(text)).locations[0].description == "a grey harbour, gulls"


def test_caps_on_items_and_characters_hold():
    pattern = toon_regex(ScenePlan.model_json_schema(), max_chars=20, max_items=2)

    def encode(shots: int, text: str) -> str:
        plan = {"scene_index": 1, "shots": [{**SHOT, "index": i, "narration": text} for i in range(1, shots + 1)]}
        return toon_format.encode(asked(ScenePlan.model_validate(plan)))

    assert re.fullmatch(pattern, encode(2, "Short, and sweet"))
    assert not re.fullmatch(pattern, encode(3, "Short, and sweet"))  # max_items
    assert not re.fullmatch(pattern, "scene_index: 1\nshots: []")  # minItems: a plan has a shot
    assert not re.fullmatch(pattern, encode(2, "Far longer than twenty, characters"))  # max_chars
