"""`audio/tts=espeak`: espeak-ng (Debian package `espeak-ng`) through a subprocess. Formant speech: robotic but
real, clearly timed, with voices for about a hundred languages (English and Hindi included), in milliseconds per
sentence on a CPU. No weights.

A voice is an espeak-ng voice name (`en-us`, `hi`, `en-gb-x-rp`); a dialogue voice that starts with `+` is a
variant of the story language's voice (`+f3` -> `en-us+f3`, or `hi+f3` for a Hindi story).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from storyforge.engine import children
from storyforge.engine.contract import knob
from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider, VoiceType
from storyforge.services.audio.tts.base import TTSBackend


class EspeakTTS(TTSBackend):
    provider = ModelProvider.espeak

    class Params(TTSBackend.Params):
        max_concurrency: int = knob(2, "espeak-ng processes at once")
        executable: str = "espeak-ng"  # program name or path
        voices: dict[str, str] = {"en": "en-us", "hi": "hi"}  # story language -> narrator voice
        dialogue_voices: list[str] = ["+f3", "+m1", "+f4", "+m7"]  # variants of the narrator's voice, per speaker
        words_per_minute: int = 160  # espeak-ng -s
        pitch: int = 45  # espeak-ng -p, 0-99
        timeout_s: float = knob(120.0, "Longest one clip may take")

    def models(self) -> list[str]:
        return ["espeak-ng"]

    def default_voice(self, language: str) -> str:
        return self.params.voices.get(language, language)

    def voice_for(self, language: str, kind: VoiceType = VoiceType.narrator, slot: int = 0) -> str:
        voice = super().voice_for(language, kind, slot)
        return self.default_voice(language) + voice if voice.startswith("+") else voice

    def unavailable(self) -> StoryforgeError | None:
        if shutil.which(self.params.executable):
            return None
        return StoryforgeError(
            f"audio/tts=espeak needs the espeak-ng program, and '{self.params.executable}' is not on PATH.",
            "apt-get install espeak-ng (Debian/Ubuntu; brew install espeak-ng on macOS), or choose audio/tts=tone.",
        )

    def _speak(self, text: str, language: str, voice: str, out: Path) -> Path:
        p = self.params
        out = out.with_suffix(".wav")
        cmd = [p.executable, "-v", voice, "-s", str(p.words_per_minute), "-p", str(p.pitch), "-b", "1", "--stdin", "-w", str(out)]
        try:  # text on stdin, UTF-8 (-b 1): any script, and nothing read as an option
            proc = children.run(cmd, input=text.encode("utf-8"), timeout=p.timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise StoryforgeError(f"espeak-ng took over {p.timeout_s:.0f} s for one clip.", "raise audio.tts.timeout_s.") from exc
        if proc.returncode != 0 or not out.is_file():
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise StoryforgeError(
                f"espeak-ng could not speak with voice '{voice}': {message[-1] if message else 'no output'}.",
                "list the installed voices with `espeak-ng --voices` and set audio.tts.voice or audio.tts.voices.<lang>.",
            )
        return out
