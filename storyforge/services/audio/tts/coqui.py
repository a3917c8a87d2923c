"""`audio/tts=coqui`: Coqui TTS (the maintained `coqui-tts` fork, imported as `TTS`), XTTS-v2 by default: the
story's language, a built-in speaker per voice, or a cloned narrator from `speaker_wav`. For GPU machines.

`model` is a Coqui model name (fetched into Coqui's model cache on first use, where the machine may) or a local
folder: an XTTS folder (config.json, model.pth, vocab.json, speakers_xtts.pth) or any Coqui checkpoint folder
(model.pth + config.json, e.g. VITS). Why it does not run on the CPU-only CI machine is in README (Voices):
coqui-tts imports torchaudio, whose registry builds are linked against CUDA libraries. The import is guarded:
without it, selecting this backend is one clear error (or, with `fallback: tone`, a logged stand-in).
"""

from __future__ import annotations

import gc
import json
import threading
from pathlib import Path
from typing import Any

from storyforge.engine.contract import knob
from storyforge.errors import StoryforgeError
from storyforge.models import ModelProvider
from storyforge.services.audio.tts.base import TTSBackend
from storyforge.services.torch_runtime import BUILDING

XTTS_SPEAKERS = ["Claribel Dervla", "Damien Black", "Ana Florence", "Viktor Eka", "Gracie Wise"]


class CoquiTTS(TTSBackend):
    provider = ModelProvider.coqui

    class Params(TTSBackend.Params):
        max_concurrency: int = knob(1, "Clips at once (one model on one device)")
        model: str = "tts_models/multilingual/multi-dataset/xtts_v2"  # Coqui model name or local folder
        device: str = "cpu"  # cpu | cuda
        dialogue_voices: list[str] = XTTS_SPEAKERS[1:]  # built-in speakers of a multi-speaker model
        speaker_wav: str | None = None  # a clean 6-30 s recording to clone the narrator from (XTTS)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._tts = None
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        return [self.params.model]

    def unavailable(self) -> StoryforgeError | None:
        try:
            import TTS.api  # noqa: F401
        except Exception as exc:  # ImportError, or OSError from a torchaudio built for another torch
            return StoryforgeError(
                f"audio/tts=coqui cannot import coqui-tts here ({type(exc).__name__}: {str(exc)[:200]}).",
                "pip install 'storyforge[coqui]' on a machine whose torch and torchaudio builds match (see README, "
                "Voices), or choose audio/tts=piper or audio/tts=espeak.",
            )
        return None

    def default_voice(self, language: str) -> str:
        return XTTS_SPEAKERS[0] if "xtts" in self.params.model.lower() else "default"

    def _load(self):
        with self._lock:
            if self._tts is None:
                from TTS.api import TTS

                folder = Path(self.params.model).expanduser()
                with BUILDING:
                    if folder.is_dir():
                        config = folder / "config.json"
                        xtts = json.loads(config.read_text()).get("model") == "xtts"
                        tts = TTS(
                            model_path=str(folder if xtts else folder / "model.pth"), config_path=str(config),
                            progress_bar=False,
                        )  # fmt: skip
                    else:
                        tts = TTS(model_name=self.params.model, progress_bar=False)
                self._tts = tts.to(self.params.device)
        return self._tts

    def _speak(self, text: str, language: str, voice: str, out: Path) -> Path:
        tts = self._load()
        kwargs: dict[str, Any] = {}
        if tts.is_multi_lingual:
            kwargs["language"] = language
        if self.params.speaker_wav and voice == self.voice_for(language):
            kwargs["speaker_wav"] = self.params.speaker_wav
        elif tts.is_multi_speaker:
            kwargs["speaker"] = voice
        out = out.with_suffix(".wav")
        tts.tts_to_file(text=text, file_path=str(out), **kwargs)
        return out

    def close(self) -> None:
        self._tts = None
        gc.collect()
