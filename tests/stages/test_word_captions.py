"""Word-level captions: a voice that says when each word is heard (tone here; Kokoro in its own tests) gives every
narration clip a timing per word; `stages.compose.captions=words` starts each cue when its first word is heard,
`highlight_words` burns in a cue per word with that word marked; where the voice gives no timings the sentence
cues stay; the manifest measures how far sentence cues sit from the words."""

from itertools import pairwise
from pathlib import Path

import anyio
import numpy as np

from storyforge.media import read_wav
from storyforge.models import Artifact, NarrationClip, Shot, ShotType, WordTiming
from storyforge.services.audio.tts.tone import ToneTTS
from storyforge.stages.narration import align_words
from storyforge.timeline import HIGHLIGHT, build_timeline, sentence_cues, shot_cues
from tests.conftest import FIXTURES

TEXT = 'Anna tied the knot — "Hold it," said Tom, and the kite rose over the oak trees. It flew.'


def test_the_tone_voice_times_every_word_where_its_beep_sounds(tmp_path):
    path, words = anyio.run(ToneTTS().speak_timed, TEXT, "en", 0, tmp_path / "a.wav")
    samples, rate = read_wav(path)
    assert [w.word for w in words] == TEXT.split()
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in pairwise(words))
    dash = words[TEXT.split().index("—")]
    assert dash.start_s == dash.end_s  # no letters: no beep, no time
    for w in words:  # loud where a word is, per the timings
        if w.end_s > w.start_s:
            assert np.abs(samples[int(w.start_s * rate) : int(w.end_s * rate)]).max() > 0.01
    assert 0 < len(samples) / rate - words[-1].end_s < 0.6  # after the last beep: the rest of its slot and a full stop's pause


def test_words_the_voice_spoke_apart_are_aligned_to_the_narration():
    heard = [WordTiming(word=w, start_s=i, end_s=i + 0.5) for i, w in enumerate(["Hold", "it,", "said", "Tom."])]
    words = align_words('"Hold it," said — Tom.', heard, 5.0)
    assert [w.word for w in words] == ['"Hold', 'it,"', "said", "—", "Tom."]
    assert [w.start_s for w in words] == [0, 1, 2, 2.5, 3]  # the dash sits in the gap before Tom
    assert align_words("Something else entirely", heard, 5.0)[-1].end_s == 5.0  # nothing matched: spread out


def _timeline(words: bool, highlight: bool = False):
    shot = Shot(scene_index=1, index=1, shot_type=ShotType.wide, camera="static", description="d", narration=TEXT, duration_s=2)
    timings = [WordTiming(word=w, start_s=0.4 * i, end_s=0.4 * i + 0.3) for i, w in enumerate(TEXT.split())]
    clip = NarrationClip(shot_id=shot.id, text=TEXT, audio=Artifact(name="a.wav", media_type="audio/wav"),
                         duration_s=0.4 * len(timings), words=timings if words else [])  # fmt: skip
    return build_timeline([shot], {shot.id: clip}, 320, 180, 24, captions="words", highlight=highlight), timings


def test_word_captions_start_when_their_first_word_is_heard():
    timeline, timings = _timeline(words=True)
    entry, lead = timeline.entries[0], timeline.entries[0].narration_offset_s
    cues = shot_cues(entry, "words")
    assert len(cues) >= 2 and [c.text for c in cues] == [c.text for c in sentence_cues(entry)]  # same lines
    starts = {w.start_s for w in timings}
    assert all(round(c.start_s - lead, 6) in starts for c in cues[1:])
    assert cues[0].start_s == lead and cues[-1].end_s == round(lead + entry.narration_duration_s, 6)
    assert all(a.end_s == b.start_s for a, b in pairwise(cues))


def test_highlighted_words_burn_in_a_cue_per_word():
    timeline, _ = _timeline(words=True, highlight=True)
    cues = shot_cues(timeline.entries[0], "words", highlight=True)
    assert len(cues) == len(TEXT.split())  # one per word, the cue's lines around it
    assert all(c.text.count("<font") == 1 for c in cues) and HIGHLIGHT.format("tied") in cues[1].text
    assert all(a.end_s == b.start_s for a, b in pairwise(cues))
    assert timeline.model_dump()["highlight"] is True  # plan_pieces burns the same cues per piece


def test_without_word_timings_the_sentence_cues_stay():
    timeline, _ = _timeline(words=False)
    assert shot_cues(timeline.entries[0], "words") == sentence_cues(timeline.entries[0])


def test_a_run_with_highlighted_word_captions_burns_them_in_and_measures_the_offsets(run):
    result = run(f"story={FIXTURES / 'one_scene.txt'}", "stages.compose.highlight_words=true")  # implies captions=words
    assert result.manifest.status == "succeeded" and result.video is not None
    edit = result.outputs["compose"].value
    assert edit.burned_in and any("<font" in c.text for p in edit.pieces for c in p.cues)
    clips = result.outputs["narration"].value
    assert all(len(c.words) == len(c.text.split()) for c in clips)
    quality = result.manifest.quality
    assert quality["word_timed_shots"] == 1.0 and 0 <= quality["word_offset_mean_s"] <= quality["word_offset_max_s"]
    srt = Path(result.run_dir / "subtitles.srt").read_text()
    assert "<font" not in srt  # the soft track (kept beside the film) is plain
