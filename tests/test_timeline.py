"""The timeline as data: durations from the narration (no dead air), whole frames, transitions, and subtitle cues
(at punctuation and at the pauses of the speech, none too short to read)."""

import itertools
import unicodedata

import pytest

from storyforge.models import Artifact, Motion, NarrationClip, Shot, ShotType, ShotVisual, TimelineEntry, Transition
from storyforge.timeline import (
    MAX_LINE,
    MIN_CUE_S,
    Transitions,
    build_timeline,
    motion_for,
    plan_pieces,
    shot_cues,
    to_srt,
    to_vtt,
)


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


def test_subtitle_lines_fit_the_frame_vertical_and_square_ones_too():
    text = " ".join(["The lighthouse keeper climbed the spiral stairs one more time."] * 3)
    counts = []
    for size, columns in (((1280, 720), 42), ((1080, 1080), 24), ((1080, 1920), 16)):
        tl = build_timeline([SHOTS[0]], {SHOTS[0].id: clip(SHOTS[0], 12.0, text)}, *size, 24)
        assert all(len(line) <= columns for c in tl.cues for line in c.text.split("\n"))
        assert all(len(c.text.split("\n")) <= 2 for c in tl.cues)
        counts.append(len(tl.cues))
    assert counts[0] < counts[1] < counts[2]  # narrower frames: shorter lines, more cues


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


def entry(text: str, seconds: float, pauses: list[float] | None = None) -> TimelineEntry:
    """A shot whose narration starts 0.3 s in."""
    return TimelineEntry(
        shot_id="s01_01",
        scene_index=1,
        start_s=10.0,
        duration_s=seconds + 1.0,
        narration_start_s=10.3,
        narration_offset_s=0.3,
        narration_duration_s=seconds,
        text=text,
        pauses=pauses or [],
    )


def assert_well_formed(e: TimelineEntry, cues: list) -> None:
    """Cues cover the narration exactly, in order, in lines of at most MAX_LINE columns."""
    assert cues[0].start_s == pytest.approx(e.narration_offset_s)
    assert cues[-1].end_s == pytest.approx(e.narration_offset_s + e.narration_duration_s)
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in itertools.pairwise(cues))
    assert all(c.end_s > c.start_s for c in cues)
    assert all(columns(line) <= MAX_LINE for c in cues for line in c.text.split("\n"))


def columns(line: str) -> int:
    """Columns on screen: a wide (CJK) character two, a mark above or below a letter none."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else unicodedata.category(c) != "Mn" for c in line)


def test_a_narrated_shot_lasts_as_long_as_its_speech_not_its_plan():
    planned = [shot(1, 1, seconds=12.0), shot(1, 2, seconds=1.0), shot(1, 3, seconds=3.0), shot(2, 1, seconds=4.0)]
    planned[1] = planned[1].model_copy(update={"hold_s": 1.5})
    clips = {s.id: clip(s, 3.0) for s in planned[:2]}
    clips[planned[0].id].pauses = [1.2, 2.1]
    tl = build_timeline(planned, clips, 320, 180, 24, lead_in_s=0.3, tail_s=0.5)
    fast, beat, silent, last = tl.entries
    assert fast.duration_s == pytest.approx(0.3 + 3.0 + 0.5, abs=1 / 24)  # no dead air after a fast reader
    assert beat.duration_s == pytest.approx(beat.transition_s + 3.0 + 0.5 + 1.5, abs=1 / 24)  # the plan's silent beat
    assert silent.duration_s == 3.0 and last.duration_s == 4.0  # without narration: the planned length
    assert fast.pauses == [1.2, 2.1] and silent.pauses == []
    # never shorter than its transitions need, however short the speech
    short = build_timeline(planned, {planned[2].id: clip(planned[2], 0.05)}, 320, 180, 24, tail_s=0.0, lead_in_s=0.0)
    third = short.entries[2]
    assert round(third.duration_s * 24) > round(third.transition_s * 24) + round(short.entries[3].transition_s * 24)


def test_no_cue_is_shorter_than_the_minimum():
    english = "She waited at the window all night, and in the morning the old ship came in at last. Home."
    hindi = "गौरी को पतंग उड़ाना बहुत पसंद था, और वह हर शाम छत पर जाकर आसमान को देर तक देखती थी। वह घर आई।"
    for text, seconds in ((english, 6.0), (hindi, 6.0)):  # cut every 2 x 42 characters, the last words were alone
        e = entry(text, seconds)
        cues = shot_cues(e)
        assert_well_formed(e, cues)
        assert min(c.end_s - c.start_s for c in cues) >= MIN_CUE_S, [c.text for c in cues]
        assert all(len(c.text.split("\n")) <= 3 for c in cues)
        assert " ".join(c.text.replace("\n", " ") for c in cues) == text


def test_cues_break_at_sentence_ends_then_at_commas():
    text = (
        "The storm had passed by morning. The village woke to a grey sea, flat and quiet, "
        "and the boats went out one by one; nobody spoke of the lighthouse."
    )
    e = entry(text, 9.0)
    cues = shot_cues(e)
    assert_well_formed(e, cues)
    assert len(cues) > 1
    assert cues[0].text.replace("\n", " ") == "The storm had passed by morning."
    assert all(c.text.rstrip()[-1] in ".,;:" for c in cues)  # never mid-phrase
    hindi = "वह हर शाम छत पर जाती थी। आसमान में पतंगें उड़ती थीं, नीचे बच्चे खेलते थे। फिर अँधेरा हो जाता था।"
    assert all(c.text[-1] in "।," for c in shot_cues(entry(hindi, 7.0)))


def test_cue_boundaries_sit_at_the_pauses_of_the_speech():
    text = "The storm had passed by morning. The village woke to a grey sea. Nobody spoke of the lighthouse at all."
    e = entry(text, 7.0, pauses=[2.6, 4.1])  # the voice rests after each sentence, later than the text share says
    cues = shot_cues(e)
    assert [c.start_s for c in cues[1:]] == pytest.approx([0.3 + 2.6, 0.3 + 4.1])
    far = shot_cues(entry(text, 7.0, pauses=[0.5, 6.6]))  # pauses far from any boundary are not used
    assert [c.start_s for c in far[1:]] == pytest.approx([c.start_s for c in shot_cues(entry(text, 7.0))[1:]])
    assert_well_formed(e, cues)


def test_text_without_spaces_is_cut_into_cues_that_fit():
    text = "她每天晚上都坐在窗边等他，可是他一直没有回来。后来有一天，他终于回家了，带着一只小狗和一封信，说他再也不走了。"
    e = entry(text, 9.0)
    cues = shot_cues(e)
    assert_well_formed(e, cues)
    assert len(cues) >= 2 and "".join(c.text.replace("\n", "") for c in cues) == text
    assert all(c.text[-1] in "，。" for c in cues)


def test_burned_in_pieces_carry_the_same_cues_as_the_subtitle_track():
    shots = [shot(1, 1), shot(1, 2)]
    text = "The storm had passed by morning. The village woke to a grey sea, flat and quiet. Nobody spoke of it."
    clips = {s.id: clip(s, 6.0, text).model_copy(update={"pauses": [2.0, 4.2]}) for s in shots}
    tl = build_timeline(shots, clips, 320, 180, 24)
    visuals = {s.id: ShotVisual(shot_id=s.id, media=Artifact(name="p.png", media_type="image/png")) for s in shots}
    starts = {e.shot_id: e.start_s for e in tl.entries}
    burned = []  # every burned-in cue in film time
    for piece in plan_pieces(tl, visuals, burn_subtitles=True):
        offset = starts[piece.shots[-1]] + piece.sources[-1].first_frame / tl.fps  # where the piece starts in the film
        burned += [(c.text, offset + c.start_s, offset + c.end_s) for c in piece.cues]
    for cue in tl.cues:  # each cue of the subtitle track is burned in whole, across the pieces it spans
        parts = sorted((a, b) for text, a, b in burned if text == cue.text and cue.start_s - 0.01 <= a < cue.end_s)
        assert parts[0][0] == pytest.approx(cue.start_s, abs=0.01) and parts[-1][1] == pytest.approx(cue.end_s, abs=0.01)
        assert all(b == pytest.approx(a2, abs=0.01) for (_, b), (a2, _) in itertools.pairwise(parts))
