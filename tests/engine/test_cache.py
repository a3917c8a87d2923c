"""Keys are stable and sensitive to exactly what changes outputs; the blob store is atomic and self-checking."""

import os
import stat

import pytest

from storyforge.engine.cache import BlobStore, Cache, digest
from storyforge.engine.contract import PromptSet
from storyforge.engine.graph import build_graph
from storyforge.engine.runner import Output, base_payload, input_digests, unit_key
from storyforge.resources import resource_dir

PROMPTS = PromptSet(resource_dir("conf") / "prompts" / "v1")
SHOT = {"_target_": "storyforge.stages.narration.Narrate", "needs": {"shot": "source", "story": "source"}}


def key_of(stage_cfg=SHOT, tts=None, seed=1, inputs=None, version=None):
    graph = build_graph({"narration": stage_cfg}, {"tts": tts or {"_target_": "storyforge.services.audio.tts.tone.ToneTTS"}})
    node = graph.nodes["narration"]
    if version:
        type(node.stage).version, old = version, type(node.stage).version
    try:
        base = base_payload(node, {n: s.fingerprint() for n, s in graph.services.items()}, PROMPTS)
    finally:
        if version:
            type(node.stage).version = old
    return unit_key(base, seed, inputs or {"shot": "a", "story": "b"})


def test_digest_ignores_dict_order_and_refuses_nan():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    with pytest.raises(ValueError):
        digest({"x": float("nan")})


def test_same_inputs_same_key_and_every_change_a_new_one():
    key = key_of()
    assert key == key_of()
    assert key != key_of(inputs={"shot": "a2", "story": "b"})  # input content
    assert key != key_of(seed=2)  # derived seed
    assert key != key_of(tts={"_target_": "storyforge.services.audio.tts.tone.ToneTTS", "words_per_minute": 120})  # fingerprint
    assert key != key_of(version="99")  # stage version


def test_knobs_do_not_change_keys():
    assert key_of() == key_of(tts={"_target_": "storyforge.services.audio.tts.tone.ToneTTS", "max_concurrency": 7})


def test_declared_reads_narrow_the_input_digest():
    from storyforge.models import Shot, ShotType, Story

    graph = build_graph({"narration": SHOT}, {"tts": {"_target_": "storyforge.services.audio.tts.tone.ToneTTS"}})
    node = graph.nodes["narration"]
    shot = Shot(scene_index=1, index=1, shot_type=ShotType.wide, description="a", narration="Hello.", duration_s=2)
    story = Story(title="t", text="Hello.", sections=[])
    before = input_digests(node, {"shot": Output(shot, "x"), "story": Output(story, "y")})
    redrawn = shot.model_copy(update={"description": "another picture"})
    reworded = shot.model_copy(update={"narration": "Goodbye."})
    assert input_digests(node, {"shot": Output(redrawn, "x"), "story": Output(story, "y")}) == before
    assert input_digests(node, {"shot": Output(reworded, "x"), "story": Output(story, "y")}) != before


def test_blobs_are_atomic_read_only_and_content_addressed(tmp_path):
    store = BlobStore(tmp_path)
    sha = store.put_bytes(b"hello")
    path = store.path(sha)
    assert path.read_bytes() == b"hello" and path.parent.parent.name == "sha256"
    assert not os.stat(path).st_mode & stat.S_IWUSR
    src = tmp_path / "scratch.bin"
    src.write_bytes(b"hello")
    assert store.put_file(src) == sha and not src.exists()
    assert list(store.tmp.iterdir()) == []  # no temp files left behind


def test_a_corrupt_or_missing_blob_reads_as_a_miss(tmp_path):
    store = BlobStore(tmp_path)
    sha = store.put_bytes(b"payload")
    path = store.path(sha)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    assert store.read_verified(sha) is None and not store.verify(sha)
    path.unlink()
    assert store.read_verified(sha) is None and not store.verify(sha)


def test_index_round_trips_json_records(tmp_path):
    cache = Cache(tmp_path)
    cache.index.set("k", {"output": "abc", "seconds": 0.5})
    assert cache.index.get("k") == {"output": "abc", "seconds": 0.5}
    assert cache.index.get("missing") is None
    cache.close()
    assert not list(tmp_path.rglob("*.pickle"))


def test_storing_again_repairs_a_corrupt_blob(tmp_path):
    store = BlobStore(tmp_path)
    sha = store.put_bytes(b"payload")
    store.path(sha).chmod(0o644)
    store.path(sha).write_bytes(b"tampered")
    assert store.put_bytes(b"payload") == sha and store.verify(sha)
