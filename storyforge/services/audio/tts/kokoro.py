"""`audio/tts=kokoro`: Kokoro-82M (Apache-2.0; `pip install kokoro`), an 82M-parameter StyleTTS2-style voice at
24 kHz, fast enough for the CPU, with voice packs for English (American and British), Hindi, Spanish, French,
Italian and Brazilian Portuguese. It says when each word is heard (`speak_timed`).

`model` is a local folder in the hub's layout (config.json, one `*.pth`, voices/<name>.pt) or the hub id already
in the Hugging Face cache: nothing is fetched at run time. Each language has a table of voices, the narrator's
first, then the dialogue voices (`voices`); `voice` and `dialogue_voices` override it.

Phonemes come from espeak-ng (misaki's `EspeakG2P`; espeak-ng ships in the espeakng-loader wheel) for every
language: misaki's own English G2P needs spaCy's en_core_web_sm, which is published only on GitHub, out of reach of
a machine that installs from package registries. English espeak phonemes are mapped to the set Kokoro's English
voices were trained on, as misaki's espeak fallback does.

Word timings come from the model: each word is phonemized on its own, so the phoneme ids of each word are known,
and the duration the model predicts for every id (frames of 600 samples, 1/40 s) places the word in the audio. A
text longer than the model's context (510 phonemes) is spoken in chunks, broken after a sentence where possible,
and joined.
"""

from __future__ import annotations

import re
import threading
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from storyforge.engine.contract import knob
from storyforge.errors import StoryforgeError
from storyforge.media import write_wav
from storyforge.models import ModelProvider, WordTiming
from storyforge.services.audio.tts.base import TTSBackend
from storyforge.services.torch_runtime import BUILDING, RANDOM, free_memory

SAMPLE_RATE = 24000
FRAME = 600  # samples per predicted duration frame
# story language -> espeak-ng language (English: en-gb for the British voices, whose names start with "b")
ESPEAK = {"en": "en-us", "hi": "hi", "es": "es", "fr": "fr-fr", "it": "it", "pt": "pt-br"}
VOICES = {
    "en": ["af_heart", "am_michael", "bf_emma", "bm_george", "af_bella"],
    "hi": ["hf_alpha", "hm_omega", "hf_beta", "hm_psi"],
    "es": ["ef_dora", "em_alex"],
    "fr": ["ff_siwis"],
    "it": ["if_sara", "im_nicola"],
    "pt": ["pf_dora", "pm_alex"],
}
_CLOSERS = "\"'”’»)]"
_SENTENCE_END = re.compile(rf"[.!?…।॥][{re.escape(_CLOSERS)}]*$")
_CLAUSE_END = re.compile(rf"[,;:—][{re.escape(_CLOSERS)}]*$")


class KokoroTTS(TTSBackend):
    provider = ModelProvider.kokoro

    class Params(TTSBackend.Params):
        max_concurrency: int = knob(1, "Clips made at once (one model on one device)")
        model: str = "hexgrad/Kokoro-82M"  # local folder, or the hub id already in the Hugging Face cache
        device: str = "cpu"  # cpu | cuda | mps
        speed: float = 1.0  # > 1 speaks faster
        voices: dict[str, list[str]] = VOICES  # story language -> voices: the narrator's, then the dialogue voices

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._model = None
        self._folder: Path | None = None
        self._packs: dict[str, Any] = {}
        self._g2p: dict[str, Any] = {}
        self._lock = threading.Lock()

    def models(self) -> list[str]:
        return [self.params.model]

    def unavailable(self) -> StoryforgeError | None:
        import importlib.util

        if importlib.util.find_spec("kokoro") is None or importlib.util.find_spec("misaki") is None:
            return StoryforgeError(
                "audio/tts=kokoro needs the kokoro package, which is not installed.",
                "pip install kokoro (it brings misaki and espeak-ng), or choose audio/tts=piper or audio/tts=espeak.",
            )
        try:  # the weights, found locally (cheap): missing ones are known before anything runs
            self.folder()
        except StoryforgeError as exc:
            return exc
        return None

    # Voices: the language's table, unless `voice` / `dialogue_voices` are set.

    def _table(self, language: str) -> list[str]:
        voices = self.params.voices.get(language) or VOICES.get(language)
        if not voices:
            self._espeak_language(language, "")  # an unsupported language says so
            raise StoryforgeError(
                f"audio/tts=kokoro has no voices for language '{language}'.",
                f"set audio.tts.voice or audio.tts.voices.{language}=[narrator, dialogue voices...].",
            )
        return voices

    def default_voice(self, language: str) -> str:
        return self._table(language)[0]

    def dialogue_voices_for(self, language: str | None = None) -> list[str]:
        if self.params.dialogue_voices:
            return list(self.params.dialogue_voices)
        if language is None:
            return list(dict.fromkeys(v for voices in (VOICES | self.params.voices).values() for v in voices))
        narrator = self.params.voice or self.default_voice(language)
        return [v for v in self._table(language)[1:] if v != narrator]

    @property
    def multi_voice(self) -> bool:
        return bool(self.params.dialogue_voices) or any(len(v) > 1 for v in (VOICES | self.params.voices).values())

    # Loading

    def folder(self) -> Path:
        """The model folder: `model` itself, or its snapshot in the Hugging Face cache (never downloaded)."""
        if self._folder is not None:
            return self._folder
        model = self.params.model
        folder: Path | None = Path(model).expanduser()
        if not folder.is_dir():
            try:
                from huggingface_hub import snapshot_download

                folder = Path(snapshot_download(model, local_files_only=True))
            except Exception:  # not a repo id, or not in the cache
                folder = None
        if folder is None or not (folder / "config.json").is_file() or len(list(folder.glob("*.pth"))) != 1:
            raise StoryforgeError(
                f"audio.tts.model={model} is not a Kokoro folder (config.json, one .pth, voices/) or in the Hugging Face cache.",
                "download it where the machine can reach the hub (huggingface-cli download hexgrad/Kokoro-82M "
                "--local-dir <folder>) and set audio.tts.model=<folder> (or STORYFORGE_KOKORO_PATH).",
            )
        self._folder = folder
        return folder

    def warm_up(self) -> None:
        if self._fallback() is None:
            self._load()

    def _load(self):
        with self._lock:
            if self._model is None:
                from kokoro.model import KModel

                folder = self.folder()
                with BUILDING, warnings.catch_warnings():  # torch's weight_norm deprecation, once per layer
                    warnings.simplefilter("ignore", FutureWarning)
                    model = KModel(
                        repo_id="hexgrad/Kokoro-82M",  # given `config` and `model`, KModel downloads nothing
                        config=str(folder / "config.json"),
                        model=str(next(folder.glob("*.pth"))),
                    )
                self._model = model.to(self.params.device).eval()
        return self._model

    def _pack(self, voice: str):
        """The voice's style vectors, one per input length: (510, 1, 256)."""
        with self._lock:
            if voice not in self._packs:
                import torch

                path = self.folder() / "voices" / f"{voice}.pt"
                if not path.is_file():
                    present = sorted(p.stem for p in (self.folder() / "voices").glob("*.pt"))
                    raise StoryforgeError(
                        f"Kokoro voice '{voice}' is not in {path.parent}.",
                        f"choose one of: {', '.join(present) or '(none)'} in audio.tts.voice, audio.tts.dialogue_voices "
                        "or audio.tts.voices.<lang>, or download the voice into that folder.",
                    )
                self._packs[voice] = torch.load(path, weights_only=True, map_location="cpu")
        return self._packs[voice]

    def _espeak_language(self, language: str, voice: str) -> str:
        if language not in ESPEAK:
            raise StoryforgeError(
                f"audio/tts=kokoro does not speak '{language}': Kokoro-82M speaks {', '.join(ESPEAK)}.",
                "choose another voice for this story: audio/tts=espeak (about a hundred languages) or audio/tts=coqui.",
            )
        return "en-gb" if language == "en" and voice.startswith("b") else ESPEAK[language]

    def _phonemizer(self, espeak_language: str):
        """word -> phonemes (punctuation kept), one per espeak language."""
        if espeak_language not in self._g2p:
            from misaki.espeak import EspeakFallback, EspeakG2P

            g2p = EspeakG2P(language=espeak_language)  # language-switch flags removed: '(hi)…(en-us)' is not spoken
            if espeak_language.startswith("en"):
                english = EspeakFallback(british=espeak_language == "en-gb")  # maps espeak's English to Kokoro's
                english.backend = g2p.backend
                self._g2p[espeak_language] = lambda word: english(SimpleNamespace(text=word))[0] or ""
            else:
                self._g2p[espeak_language] = lambda word: g2p(word)[0]
        return self._g2p[espeak_language]

    def phonemes(self, words: list[str], language: str, voice: str) -> list[str]:
        """Each word's phonemes, as Kokoro reads them."""
        espeak_language = self._espeak_language(language, voice)
        with self._lock:  # espeak-ng is one library with global state
            g2p = self._phonemizer(espeak_language)
            # espeak drops the danda (or reads a lone one out by name); as a full stop it ends the sentence
            return [g2p(w.replace("।", ".").replace("॥", ".")) for w in words]

    # Speaking

    def _speak(self, text: str, language: str, voice: str, out: Path) -> Path:
        return self._speak_timed(text, language, voice, out)[0]

    def _speak_timed(self, text: str, language: str, voice: str, out: Path) -> tuple[Path, list[WordTiming]]:
        model = self._load()
        pack = self._pack(voice)
        words = text.split()
        most = model.context_length - 2  # ids per forward pass, between the two pads
        vocab = model.vocab
        ids = [[vocab[c] for c in ps if c in vocab][:most] for ps in self.phonemes(words, language, voice)]
        audio: list[np.ndarray] = []
        timings: list[WordTiming] = []
        offset = 0  # samples spoken before this chunk
        for start, end in _chunks(words, ids, most):
            chunk: list[int] = []
            spans: list[tuple[int, int] | None] = []  # each word's ids in the chunk
            for word_ids in ids[start:end]:
                if word_ids:
                    chunk += [vocab[" "]] if chunk else []
                    spans.append((len(chunk), len(chunk) + len(word_ids)))
                    chunk += word_ids
                else:
                    spans.append(None)
            samples, frames = self._forward(model, chunk, pack) if chunk else (np.zeros(0, np.float32), [0])
            # at[k]: the sample where input position k starts (position 0 is the leading pad, so id i is i + 1)
            at = np.concatenate([[0], np.cumsum(frames)]) * FRAME
            position = 0
            for word, span in zip(words[start:end], spans, strict=True):
                begin, finish = (int(at[span[0] + 1]), int(at[span[1] + 1])) if span else (position, position)
                timings.append(
                    WordTiming(word=word, start_s=(offset + begin) / SAMPLE_RATE, end_s=(offset + finish) / SAMPLE_RATE)
                )
                position = finish
            audio.append(samples)
            offset += len(samples)
        joined = np.concatenate(audio) if offset else np.zeros(int(0.25 * SAMPLE_RATE), np.float32)  # nothing to say
        return write_wav(out.with_suffix(".wav"), joined, SAMPLE_RATE), timings

    def _forward(self, model, ids: list[int], pack) -> tuple[np.ndarray, list[int]]:
        """One pass: the audio, and the frames each input position lasts (the two pads included)."""
        import torch

        device = torch.device(self.params.device)
        tokens = torch.LongTensor([[0, *ids, 0]]).to(device)
        style = pack[len(ids) - 1].to(device)  # the pack holds a style per input length
        gpu = [] if device.type == "cpu" else [device.index or 0]
        with self._lock, RANDOM, torch.random.fork_rng(devices=gpu, device_type=device.type if gpu else None):
            # the vocoder's excitation is noise: seeded, the same text and voice sound the same (this device only)
            torch.random.default_generator.manual_seed(0)
            if gpu:
                torch.cuda.manual_seed(0)
            samples, frames = model.forward_with_tokens(tokens, style, self.params.speed)
        return samples.float().cpu().numpy().reshape(-1), frames.cpu().reshape(-1).tolist()

    def close(self) -> None:
        self._model = None
        self._packs.clear()
        free_memory()


def _chunks(words: list[str], ids: list[list[int]], most: int) -> list[tuple[int, int]]:
    """The words as [start, end) runs of at most `most` ids each (a space between words), each broken after its
    last sentence where it has one, else after its last clause, else after the word that fills it."""
    chunks, start = [], 0
    while start < len(words):
        end, size, breaks = start, 0, {}
        while end < len(words):
            grow = len(ids[end]) + (1 if size and ids[end] else 0)
            if size + grow > most and end > start:
                break
            size, end = size + grow, end + 1
            if _SENTENCE_END.search(words[end - 1]):
                breaks["sentence"] = end
            elif _CLAUSE_END.search(words[end - 1]):
                breaks["clause"] = end
        if end < len(words):
            end = breaks.get("sentence") or breaks.get("clause") or end
        chunks.append((start, end))
        start = end
    return chunks
