"""audio/tts=kokoro: a tiny random Kokoro saved in the real folder layout and loaded the way hexgrad/Kokoro-82M
is: English and Hindi clips with a timing per word, long texts spoken in chunks, a voice table per language for
narrator and dialogue, the same audio for the same text, and clear errors for what is missing."""

from __future__ import annotations

import importlib.util
from itertools import pairwise

import anyio
import numpy as np
import pytest

from storyforge.errors import StoryforgeError
from storyforge.media import read_wav
from storyforge.models import VoiceType, WordTiming
from storyforge.services.audio.tts.kokoro import VOICES, KokoroTTS, _chunks
from tests.conftest import FIXTURES
from tests.support.tiny_kokoro import tiny_kokoro, vocab

pytestmark = pytest.mark.skipif(importlib.util.find_spec("kokoro") is None, reason="pip install kokoro")
EN = "The lighthouse keeper climbed the stairs. The storm was rising over the harbour, and every boat had come home but one."
HI = "पुराने प्रकाशस्तंभ का रखवाला सीढ़ियाँ चढ़ा। बंदरगाह पर तूफ़ान तेज़ होता जा रहा था, और एक नाव को छोड़कर सब लौट आई थीं।"
PAD_S = 4 / 40  # the trailing pad after the last word: at most max_dur frames of 1/40 s


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_kokoro(tmp_path_factory.mktemp("kokoro"))


@pytest.fixture(scope="module")
def tts(tiny):
    service = KokoroTTS(model=str(tiny))
    yield service
    service.close()


def speak(tts: KokoroTTS, text: str, language: str, out, **kwargs) -> tuple[np.ndarray, list[WordTiming]]:
    path, words = anyio.run(lambda: tts.speak_timed(text, language, 0, out, **kwargs))
    samples, rate = read_wav(path)
    assert rate == 24000 and samples.ndim == 1 and np.isfinite(samples).all()
    return samples, words


def check_timings(text: str, words: list[WordTiming], seconds: float) -> None:
    assert [w.word for w in words] == text.split()
    assert all(0 <= w.start_s <= w.end_s for w in words)
    assert all(a.end_s <= b.start_s for a, b in pairwise(words))  # in order, never overlapping
    assert 0 < seconds - words[-1].end_s <= PAD_S + 1e-6  # the last word ends where the speech does


@pytest.mark.parametrize(("language", "text"), [("en", EN), ("hi", HI)])
def test_english_and_hindi_are_speech_with_a_timing_per_word(tts, tmp_path, language, text):
    samples, words = speak(tts, text, language, tmp_path / "a.wav")
    seconds = len(samples) / 24000
    assert 2.0 < seconds < 20.0 and np.abs(samples).max() > 0.01
    check_timings(text, words, seconds)
    assert all(w.end_s > w.start_s for w in words)  # every word here has phonemes
    assert tts.voice_for(language) == VOICES[language][0]


def test_the_tiny_vocabulary_covers_what_espeak_says(tts):
    """Nothing the G2P gives is dropped on the way to the model (the real Kokoro vocabulary has these too)."""
    symbols = vocab()
    for language, text, voice in [("en", EN, "af_heart"), ("en", EN, "bf_emma"), ("hi", HI, "hf_alpha")]:
        phonemes = tts.phonemes(text.split(), language, voice)
        assert all(phonemes) and set("".join(phonemes)) <= set(symbols), (language, voice)
    assert tts.phonemes(["चढ़ा।"], "hi", "hf_alpha")[0].endswith(".")  # the danda ends a sentence (a pause)
    british, american = (tts.phonemes(["harbour"], "en", v)[0] for v in ("bf_emma", "af_heart"))
    assert british != american  # British voices read with en-gb


def test_a_text_longer_than_the_context_is_spoken_in_chunks(tts, tmp_path, monkeypatch):
    text = " ".join([EN] * 6)  # 126 words, about 700 phonemes: two passes of at most 510
    passes = []
    forward = tts._forward
    monkeypatch.setattr(tts, "_forward", lambda model, ids, pack: passes.append(len(ids)) or forward(model, ids, pack))
    samples, words = speak(tts, text, "en", tmp_path / "long.wav")
    assert len(passes) >= 2 and max(passes) <= 510 and sum(passes) > 510
    check_timings(text, words, len(samples) / 24000)  # the chunks' timings are offset by the audio before them


def test_chunks_break_after_a_sentence_then_a_clause_then_anywhere():
    words = "One two. Three, four five six".split()
    ids = [[1] * 3 for _ in words]  # 3 ids a word, 4 with the space before it
    assert _chunks(words, ids, 16) == [(0, 2), (2, 6)]  # room for four words: broken after "two."
    assert _chunks(words[2:], ids[2:], 8) == [(0, 1), (1, 3), (3, 4)]  # "Three," then any word
    assert _chunks(["a", "", "b"], [[1], [], [1]], 510) == [(0, 3)]
    assert _chunks(["long"], [[1] * 510], 510) == [(0, 1)]


def test_dialogue_voices_come_from_the_languages_table(tiny, tts, tmp_path):
    assert tts.multi_voice
    for language in ("en", "hi"):
        narrator = tts.voice_for(language)
        cast = [tts.voice_for(language, VoiceType.dialogue, slot) for slot in range(3)]
        assert len(set(cast)) == 3 and narrator not in cast and set(cast) <= set(VOICES[language][1:])
    chosen = KokoroTTS(model=str(tiny), voice="bm_george", dialogue_voices=["af_bella"])
    assert chosen.voice_for("en") == "bm_george" and chosen.voice_for("en", VoiceType.dialogue, 5) == "af_bella"
    assert KokoroTTS(voice="bm_george").voice_for("en", VoiceType.dialogue, 2) != "bm_george"
    narrated, _ = speak(tts, EN, "en", tmp_path / "n.wav")
    spoken, _ = speak(tts, EN, "en", tmp_path / "d.wav", voice=VoiceType.dialogue, slot=1)
    assert not np.array_equal(narrated, spoken)
    # a character's chosen voice (stages.cast.edits.<name>.voice, the studio) is one of these: they are listed
    assert tts.dialogue_voices_for("hi") == VOICES["hi"][1:]
    assert "bm_george" in tts.dialogue_voices_for() and "hm_omega" in tts.dialogue_voices_for()


def test_the_same_text_and_voice_give_the_same_audio(tts, tmp_path):
    first, timings = speak(tts, EN, "en", tmp_path / "a.wav")
    again, timings_again = speak(tts, EN, "en", tmp_path / "b.wav")
    assert np.array_equal(first, again) and timings == timings_again


def test_missing_weights_voices_and_languages_are_clear_errors(tiny, tmp_path, monkeypatch):
    with pytest.raises(StoryforgeError, match=r"audio\.tts\.model=.*huggingface-cli download hexgrad/Kokoro-82M"):
        KokoroTTS(model=str(tmp_path / "nowhere")).warm_up()
    with pytest.raises(StoryforgeError, match=r"'af_nobody'.*af_heart.*audio\.tts\.voice"):
        speak(KokoroTTS(model=str(tiny), voice="af_nobody"), EN, "en", tmp_path / "a.wav")
    with pytest.raises(StoryforgeError, match=r"does not speak 'de'.*audio/tts=espeak"):
        speak(KokoroTTS(model=str(tiny)), "Der Leuchtturm.", "de", tmp_path / "b.wav")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kokoro" else find_spec(name, *a))
    assert "pip install kokoro" in str(KokoroTTS().unavailable())


def test_prod_gpu_on_the_cpu_runs_on_kokoro_and_ace_step_with_word_captions(run, tiny, tmp_path_factory):
    """The issue's run: `profile=prod_gpu device=cpu` on its new (permissive) default voice and music, tiny models
    through their real loading code; the manifest lists the licences, a commercial-only run is allowed, and the
    captions are timed by Kokoro's words."""
    pytest.importorskip("diffusers")
    from tests.support.tiny_acestep import tiny_acestep
    from tests.support.tiny_diffusers import tiny_sd

    music = tiny_acestep(tmp_path_factory.mktemp("acestep"))
    sd = tiny_sd(tmp_path_factory.mktemp("stable-diffusion-v1-5"))
    result = run(f"story={FIXTURES / 'one_scene.txt'}", "profile=prod_gpu", "device=cpu", "dtype=float32", "llm=heuristic",
                 f"video.model={sd}", "video.width=64", "video.height=32", "video.steps=2", "video.threads=1",
                 f"audio.tts.model={tiny}", f"audio.music.model={music}", "audio.music.bed_s=2", "audio.music.num_inference_steps=2",
                 "stages.compose.captions=words", "stages.compose.highlight_words=true", "licence.require_commercial=true",
                 "licence.allow_unknown=false")  # fmt: skip
    manifest = result.manifest
    assert manifest.status == "succeeded" and manifest.profile == "prod_gpu" and result.video is not None
    clips = result.outputs["narration"].value
    assert clips and all(c.backend == "KokoroTTS" and len(c.words) == len(c.text.split()) for c in clips)
    assert read_wav(clips[0].audio.path)[1] == 24000
    assert {(x.service, x.name, x.licence) for x in manifest.licences} == {
        ("tts", "Kokoro-82M", "Apache-2.0"),
        ("music", "ACE-Step 1.5", "MIT"),
        ("video", "Stable Diffusion 1.5", "CreativeML OpenRAIL-M"),
    }
    assert manifest.commercial_use is True
    assert [x.name for x in manifest.stages["narration"].licences] == ["Kokoro-82M"]
    assert [x.name for x in manifest.stages["music"].licences] == ["ACE-Step 1.5"]
    assert manifest.quality["word_timed_shots"] == 1.0 and "word_offset_mean_s" in manifest.quality
    assert any("<font" in c.text for p in result.outputs["compose"].value.pieces for c in p.cues)
