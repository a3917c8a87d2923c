"""End to end on profile=debug_cpu: the video a user gets, cache hits on re-run, narrow re-runs after an edit,
resume after a failure, and recovery from a corrupt cache."""

import json

import pytest

from storyforge.errors import StageFailed
from storyforge.services.ffmpeg import probe
from storyforge.services.video.storyboard import StoryboardVideo
from tests.conftest import FIXTURES
from tests.services.test_ffmpeg_compositor import black_spans, loudness, overlaps

STORY = (f"story={FIXTURES / 'two_scenes.txt'}", "++stages.plan.shot_words=12")  # 2 scenes, 2 shots each


def misses(result) -> dict[str, int]:
    return {name: stage.misses for name, stage in result.manifest.stages.items()}


def test_video_has_streams_and_the_timeline_duration(run):
    result = run(*STORY)
    info = probe(result.video)
    kinds = [s["type"] for s in info["streams"]]
    assert kinds.count("video") == 1 and kinds.count("audio") == 1 and "subtitle" in kinds
    assert next(s for s in info["streams"] if s["type"] == "video")["width"] == 320
    timeline = json.loads((result.run_dir / "video.json").read_text())["timeline"]
    assert abs(info["duration"] - timeline["duration_s"]) <= 0.5
    for name in ["story.json", "scenes.json", "shots.json", "music.wav", "subtitles.srt", "final.mp4", "manifest.json"]:
        assert (result.run_dir / name).is_file(), name
    shots = json.loads((result.run_dir / "shots.json").read_text())["shots"]
    assert sorted(p.stem for p in (result.run_dir / "shots").glob("*.png")) == sorted(
        f"s{s['scene_index']:02d}_{s['index']:02d}" for s in shots
    )
    assert len(list((result.run_dir / "narration").glob("*.wav"))) == len(shots)
    srt = (result.run_dir / "subtitles.srt").read_text()
    assert "Anna tied the last knot" in srt
    assert (result.run_dir / "subtitles.vtt").read_text().startswith("WEBVTT")
    pieces = json.loads((result.run_dir / "edit.json").read_text())["pieces"]
    assert [p["transition"] for p in pieces if p["transition"] != "none"] == ["crossfade", "fade_black", "crossfade"]
    assert sorted(p.stem for p in (result.run_dir / "segments").glob("*.mp4")) == sorted(p["id"] for p in pieces)
    scene_two = next(e for e in timeline["entries"] if e["transition_in"] == "fade_black")
    assert overlaps(black_spans(result.video), scene_two["start_s"], scene_two["start_s"] + scene_two["transition_s"])
    assert "sidechaincompress" in (result.run_dir / "filtergraph.txt").read_text()
    assert abs(loudness(result.video) + 16.0) <= 1.0
    assert abs(result.manifest.quality["loudness_lufs"] - loudness(result.video)) <= 0.3  # measured as it was mixed


def test_second_run_is_all_hits_and_identical(run):
    first = run(*STORY)
    second = run(*STORY)
    assert all(m == 0 for m in misses(second).values())
    assert second.manifest.outputs == first.manifest.outputs  # same bytes, by digest


def redone(result, stage: str) -> list[str]:
    return [i.item for i in result.manifest.stages[stage].items if not i.hit]


def test_editing_one_shot_reruns_only_that_shot_its_transitions_and_the_join(run):
    run(*STORY)
    redrawn = run(*STORY, '+stages.shots.edits.s01_02.description="A red kite high over a green meadow"')
    assert misses(redrawn) == {
        "story": 0,
        "scenes": 0,
        "cast": 0,
        "portraits": 0,  # the cast sheet is drawn from the cast, not the shots
        "plan": 0,
        "music": 0,
        "shots": 1,
        "visuals": 1,
        "identity": 1,  # measured again over the new picture (a storyboard has nothing to measure: no encoder)
        "narration": 0,
        "compose": 1,  # the edit as data: cheap
        "segments": 3,
        "mix": 0,  # the picture changed, not the sound
        "film": 1,
    }
    assert redone(redrawn, "visuals") == ["s01_02"]
    assert redone(redrawn, "segments") == ["s01_01-s01_02", "s01_02", "s01_02-s02_01"]  # the shot and its transitions
    moved = run(*STORY, '+stages.shots.edits.s01_02.camera="tilt up"')  # a move the rules never pick
    assert misses(moved)["mix"] == 0 and "s01_02" in redone(moved, "segments")  # a new camera move: the sound stays


def test_a_cast_edit_redraws_only_the_shots_that_show_the_character(run):
    first = run(*STORY)
    shown = [s["id"] for s in shots_of(first) if "Tom" in s["characters"]]
    assert shown and len(shown) < len(shots_of(first))
    looked = run(*STORY, '+stages.cast.edits.Tom.description="a boy in a yellow raincoat"')
    assert redone(looked, "visuals") == shown and misses(looked)["narration"] == 0  # a look is not a voice
    assert {s for piece in redone(looked, "segments") for s in piece.split("-")} >= set(shown)
    assert misses(looked)["plan"] == misses(looked)["scenes"] == misses(looked)["story"] == 0
    speaking = [i.item for i in first.manifest.stages["narration"].items if "Tom" in i.notes.get("speakers", [])]
    revoiced = run(*STORY, "+stages.cast.edits.Tom.voice=392")  # one of the tone voice's dialogue voices
    assert speaking and redone(revoiced, "narration") == speaking and misses(revoiced)["visuals"] == 0
    rerolled = run(*STORY, "+stages.shots.edits.s02_01.take=1")
    assert redone(rerolled, "visuals") == ["s02_01"] and misses(rerolled)["narration"] == 0
    with pytest.raises(StageFailed, match=r"stages.cast.edits names characters \['Nobody'\]"):
        run(*STORY, "+stages.cast.edits.Nobody.description=x")


def shots_of(result) -> list[dict]:
    shots = json.loads((result.run_dir / "shots.json").read_text())["shots"]
    return [{**s, "id": f"s{s['scene_index']:02d}_{s['index']:02d}"} for s in shots]


def test_a_narration_edit_rerenders_only_segments_whose_length_changed(run):
    first = run(*STORY)
    reworded = run(
        *STORY, '+stages.shots.edits.s01_01.narration="Tom said nothing at all, and then nothing again, for a long while."'
    )
    assert misses(reworded)["narration"] == 1 and misses(reworded)["visuals"] == 1  # the storyboard card shows the text
    assert "Tom said nothing at all" in (reworded.run_dir / "subtitles.srt").read_text()
    before, after = first.manifest.stages["segments"].items, reworded.manifest.stages["segments"].items
    changed_slot = {"s01_01", "s01_01-s01_02"}  # the body and the transition out of the edited shot
    assert set(redone(reworded, "segments")) == changed_slot
    assert {i.item for i in before} == {i.item for i in after}
    last = [json.loads((r.run_dir / "video.json").read_text())["timeline"]["entries"][-1]["start_s"] for r in (first, reworded)]
    assert last[0] != last[1]  # every later shot moved, and kept its cached segments
    assert misses(reworded)["mix"] == 1 and misses(reworded)["film"] == 1


def test_a_failed_run_resumes_with_finished_items_as_hits(run, monkeypatch):
    drawn = []
    original = StoryboardVideo._draw

    def flaky(self, shot, scene_index, out, cast=()):
        if shot.scene_index == 2:
            raise RuntimeError("GPU fell over")
        drawn.append(shot.id)
        return original(self, shot, scene_index, out, cast)

    monkeypatch.setattr(StoryboardVideo, "_draw", flaky)
    with pytest.raises(StageFailed, match=r"stage 'visuals' item 's02_\d\d' failed: RuntimeError: GPU fell over"):
        run(*STORY, name="failed")
    monkeypatch.setattr(StoryboardVideo, "_draw", original)
    resumed = run(*STORY)
    visuals = resumed.manifest.stages["visuals"]
    assert 1 <= visuals.hits <= len(drawn)
    assert resumed.manifest.stages["story"].hits == 1 and resumed.video is not None


def test_a_failed_run_leaves_a_manifest_saying_so(run, tmp_path, monkeypatch):
    monkeypatch.setattr(StoryboardVideo, "_draw", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(StageFailed):
        run(*STORY, name="failed")
    manifest = json.loads((tmp_path / "failed" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "boom" in manifest["error"]
    assert "RuntimeError: boom" in (tmp_path / "failed" / "error.log").read_text()


def test_a_corrupt_blob_is_recomputed_not_served(run, cache_dir):
    first = run(*STORY)
    sha = first.manifest.outputs["final.mp4"]
    blob = cache_dir / "cas" / "sha256" / sha[:2] / sha[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"not a video")
    again = run(*STORY)
    assert misses(again)["film"] == 1 and misses(again)["segments"] == 0 and misses(again)["visuals"] == 0
    assert probe(again.video)["duration"] > 1


def test_cache_modes(run):
    run(*STORY, "cache.mode=off")
    assert misses(run(*STORY))["story"] == 1  # mode=off wrote nothing to the index
    assert misses(run(*STORY, "cache.mode=refresh"))["scenes"] == 1
    assert misses(run(*STORY, "cache.refresh=[music]")) == {**{k: 0 for k in misses(run(*STORY))}, "music": 1}


def test_hindi_story_runs_end_to_end(run):
    from storyforge.resources import asset

    result = run(f"story={asset('example_story_hi.txt')}")
    story = json.loads((result.run_dir / "story.json").read_text())
    assert story["language"] == "hi" and len(json.loads((result.run_dir / "scenes.json").read_text())["scenes"]) == 2
    assert "गौरी" in (result.run_dir / "subtitles.srt").read_text()


def test_a_new_prompt_set_reruns_the_llm_stages_and_reuses_identical_results(run):
    run(*STORY)
    v2 = run(*STORY, "prompts=v2")
    m = misses(v2)
    assert m["story"] == 1 and m["scenes"] == 1 and m["plan"] == 2  # the prompt text is part of their keys
    assert m["narration"] == 0 and m["compose"] == 0 and m["film"] == 0  # the rule-based planner gave the same bytes
    assert m["visuals"] == len(v2.outputs["shots"].value.shots)  # the picture prompt changed too
