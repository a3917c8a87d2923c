"""The timeline as data: durations from the narration, whole frames, transitions, and subtitle cues."""

import itertools

import pytest

from storyforge.models import Artifact, Motion, NarrationClip, Shot, ShotType, Transition
from storyforge.timeline import MAX_LINE, Transitions, build_timeline, motion_for, to_srt, to_vtt


def shot(scene: int, index: int, seconds: float = 2.0, camera: str = "static") -> Shot:
    return Shot(
        scene_index=scene, index=index, shot_type=ShotType.wide, camera=camera, description="d", narration="n", duration_s=seconds
    )


def clip(s: Shot, seconds: float, text: str = "Hello there.") -> NarrationClip:
    return NarrationClip(shot_id=s.id, text=text, audio=Artifact(name="a.wav", media_type="audio/wav"), duration_s=seconds)


SHOTS = [shot(1, 1), shot(1, 2), shot(2, 1)]


def test_narration_lengthens_shots_and_transitions_overlap():
    clips = {SHOTS[1].id: clip(SHOTS[1], 6.0)}
    tl = build_timeline(SHOTS, clips, 320, 180, 24, lead_in_s=0.3, tail_s=0.5)
    first, second, third = tl.entries
    assert first.duration_s == 2.0 and first.transition_in == Transition.none
    assert second.transition_in == Transition.crossfade and third.transition_in == Transition.fade_black
    assert second.start_s == pytest.approx(first.duration_s - second.transition_s)
    assert second.duration_s >= second.transition_s + 6.0 + 0.5  # lead-in is at least the transition
    assert second.narration_start_s == pytest.approx(second.start_s + second.transition_s)
    assert tl.duration_s == pytest.approx(sum(e.duration_s for e in tl.entries) - sum(e.transition_s for e in tl.entries))
    for e in tl.entries:  # whole frames
        assert round(e.duration_s * 24, 6) == round(e.duration_s * 24)


def test_cut_transitions_do_not_overlap():
    tl = build_timeline(SHOTS, {}, 320, 180, 24, transitions=Transitions(Transition.cut, Transition.cut))
    assert [e.start_s for e in tl.entries] == [0.0, 2.0, 4.0] and tl.duration_s == 6.0


def test_long_narration_becomes_cues_of_two_short_lines_inside_the_clip():
    text = " ".join(["The lighthouse keeper climbed the spiral stairs one more time."] * 4)
    tl = build_timeline([SHOTS[0]], {SHOTS[0].id: clip(SHOTS[0], 12.0, text)}, 320, 180, 24)
    entry, cues = tl.entries[0], tl.cues
    assert len(cues) > 1
    assert all(len(line) <= MAX_LINE for c in cues for line in c.text.split("\n"))
    assert all(len(c.text.split("\n")) <= 2 for c in cues)
    assert abs(cues[0].start_s - entry.narration_start_s) <= 0.05
    assert cues[-1].end_s <= entry.narration_start_s + entry.narration_duration_s + 1e-6
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(cues))
    assert " ".join(c.text.replace("\n", " ") for c in cues) == text


def test_srt_and_vtt_formats():
    tl = build_timeline([SHOTS[0]], {SHOTS[0].id: clip(SHOTS[0], 1.5)}, 320, 180, 24)
    assert to_srt(tl.cues).startswith("1\n00:00:00,300 --> 00:00:01,800\nHello there.\n")
    assert to_vtt(tl.cues).startswith("WEBVTT\n\n00:00:00.300 --> 00:00:01.800\nHello there.\n")


def test_motion_follows_the_camera_note_and_is_deterministic():
    assert motion_for(shot(1, 1, camera="slow push in"))[0] == Motion.zoom_in
    assert motion_for(shot(1, 1, camera="pan left"))[0] == Motion.pan_left
    assert motion_for(shot(1, 2)) == motion_for(shot(1, 2))
    assert len({motion_for(shot(1, i))[0] for i in range(1, 20)}) > 1  # varied across shots
