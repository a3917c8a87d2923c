"""`Narrate`: one shot's narration text -> speech, fanned out with `for_each: shots`.

Quoted dialogue is spoken in a voice of its own per speaker where the backend has several (the speaker comes
from the scene's dialogue, `Shot.speech`: a speech tag, a play's cue, or an exchange's alternation), joined to
the narrator's lines with a short pause. The clip records its lines (who speaks, why, and when) and the
pauses in its speech (where subtitle cues break). Its duration is measured from the audio, so real voices
drive the timeline and the subtitles.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

from storyforge import rules
from storyforge import text as tx
from storyforge.engine.contract import Params, RunContext, Stage, gather
from storyforge.media import media_type, read_wav, resample, wav_duration, write_wav
from storyforge.models import Artifact, NarrationClip, Shot, SpokenLine, Story, Utterance, VoiceType, WordTiming
from storyforge.reading import dialogue


class Narrate(Stage):
    version = "2"  # 2: speakers from the scene's dialogue, lines timed, pauses found
    uses = ("tts",)

    reads = {
        "shot": ("scene_index", "index", "narration", "characters", "speech"),
    }

    def key_view(self, inputs: dict) -> dict:
        """Of the story: what finds and voices the speakers (not a character's look), and the voices chosen for the
        characters who speak in this shot: re-voicing one character re-speaks only their shots."""
        shot, story = inputs["shot"], inputs["story"]
        speakers = {u.speaker for u in self._speech(shot, story)}
        who = {"__all__": {"name", "aliases", "gender"}}
        view = story.model_dump(mode="json", include={"language": True, "characters": who, "cues": True, "narrator": True})
        return {"story": {**view, "voices": {c.name: c.voice for c in story.characters if c.voice and c.name in speakers}}}

    class Params(Params):
        dialogue_voices: bool = True  # speak quoted dialogue in the speaker's voice (backends with several)
        pause_s: float = 0.12  # silence between the narrator's and a speaker's lines
        min_pause_s: float = 0.15  # a quieter stretch at least this long is a pause (subtitle cues break there)

    async def run(self, ctx: RunContext, shot: Shot, story: Story) -> NarrationClip:
        speech = self._speech(shot, story)
        voiced = self.params.dialogue_voices and self.tts.multi_voice
        if not voiced:  # one voice reads it all, in one piece
            speech_parts = [Utterance(text=shot.narration)]
        else:  # consecutive utterances in the same voice are spoken together
            speech_parts = []
            for u in speech:
                if speech_parts and (speech_parts[-1].voice, speech_parts[-1].speaker) == (u.voice, u.speaker):
                    speech_parts[-1] = speech_parts[-1].model_copy(update={"text": f"{speech_parts[-1].text} {u.text}"})
                else:
                    speech_parts.append(u)
        speech_parts = [u for u in speech_parts if tx.words(u.text)]  # nothing to say in "—" between two quotes
        if not speech_parts:  # a shot without narration: a moment of silence, not a backend error
            path = write_wav(ctx.path(f"{shot.id}.wav"), np.zeros(int(0.3 * 24000), dtype=np.float32), 24000)
            audio = Artifact(name=f"narration/{shot.id}.wav", media_type=media_type(path), path=path)
            return NarrationClip(shot_id=shot.id, text=shot.narration, audio=audio, duration_s=0.3, backend="silence")
        slots = [self._slot(story, u.speaker) for u in speech_parts]  # a voice per cast member

        async def speak(i: int) -> tuple[Path, list[WordTiming] | None]:
            u = speech_parts[i]
            return await self.tts.speak_timed(u.text, story.language, ctx.seed, ctx.path(f"{shot.id}-{i}.wav"), u.voice,
                                              slots[i])  # fmt: skip

        spoken = await gather(speak, range(len(speech_parts)))
        path, spans, voice, rate = self._join([p for p, _ in spoken], ctx.path(f"{shot.id}.wav"))
        duration = wav_duration(path)
        heard = None
        if all(words is not None for _, words in spoken):  # the voice said when each word is heard
            heard = [w.model_copy(update={"start_s": round(w.start_s + at, 4), "end_s": round(w.end_s + at, 4)})
                     for (_, words), (at, _) in zip(spoken, spans, strict=True) for w in words]  # fmt: skip
        lines = _timed(speech, speech_parts, spans) if voiced else _spread(speech, duration)
        audio = Artifact(name=f"narration/{shot.id}.wav", media_type=media_type(path), path=path)
        voices = [self.tts.voice_for(story.language, u.voice, slot) for u, slot in zip(speech_parts, slots, strict=True)]
        return NarrationClip(
            shot_id=shot.id,
            text=shot.narration,
            voice=VoiceType.dialogue if any(u.voice == VoiceType.dialogue for u in speech_parts) else VoiceType.narrator,
            audio=audio,
            duration_s=round(duration, 4),
            backend=self.tts.name,
            voices=list(dict.fromkeys(voices)),
            speakers=list(dict.fromkeys(u.speaker for u in speech_parts if u.speaker)),
            lines=lines,
            pauses=find_pauses(voice, rate, self.params.min_pause_s),
            words=align_words(shot.narration, heard, duration) if heard is not None else [],
        )

    def report(self, output: NarrationClip) -> dict:
        return {
            "backend": output.backend,
            "voices": output.voices,
            "speakers": output.speakers,
            "chars": len(output.text),
            "seconds": output.duration_s,
        }

    def _slot(self, story: Story, speaker: str) -> int:
        """The dialogue voice of a speaker: the one chosen for them (`Character.voice`, from stages.cast.edits) when
        the backend has it, else their place in the cast, so each keeps a voice of their own across shots."""
        names = [c.name for c in story.characters]
        if speaker not in names:
            return len(names)
        chosen = story.characters[names.index(speaker)].voice
        voices = self.tts.dialogue_voices_for(story.language)
        return voices.index(chosen) if chosen and chosen in voices else names.index(speaker)

    @staticmethod
    def _speech(shot: Shot, story: Story) -> list[Utterance]:
        """The shot's utterances as planned from the scene, or, where the narration was edited since, read from
        the shot's own text."""
        if shot.speech and tx.words(" ".join(u.text for u in shot.speech)) == tx.words(shot.narration):
            return shot.speech
        lines = [
            x
            for para in dialogue.attribute([shot.narration], rules.cast_names(story), story.cues, rules.leads(story))
            for x in para
        ]
        return [rules.to_utterance(x.text, x) for x in lines] or [Utterance(text=shot.narration)]

    def _join(self, parts: list[Path], out: Path) -> tuple[Path, list[tuple[float, float]], np.ndarray, int]:
        """The parts one after another with a short pause between them: the file, where each part sits (seconds),
        and the joined samples (mono) with their rate, so nothing reads the file back."""
        clips = [read_wav(p) for p in parts]
        rate = clips[0][1]
        mono = [resample(s if s.ndim == 1 else s.mean(axis=1), r, rate) for s, r in clips]
        gap = np.zeros(int(self.params.pause_s * rate), dtype=np.float32)
        spans, t = [], 0
        for clip in mono:
            spans.append((t / rate, (t + len(clip)) / rate))
            t += len(clip) + len(gap)
        if len(parts) == 1:
            return parts[0], spans, mono[0], rate
        joined = np.concatenate([x for clip in mono for x in (clip, gap)][:-1])
        return write_wav(out, joined, rate), spans, joined, rate


def _timed(speech: list[Utterance], parts: list[Utterance], spans: list[tuple[float, float]]) -> list[SpokenLine]:
    """Each utterance placed in the audio: its part's span, shared among the part's utterances by length."""
    out, k = [], 0
    for part, (start, end) in zip(parts, spans, strict=True):
        members = []
        while k < len(speech) and len(" ".join(u.text for u in members)) < len(part.text):
            members.append(speech[k])
            k += 1
        total = sum(len(u.text) for u in members) or 1
        t = start
        for u in members:
            length = (end - start) * len(u.text) / total
            out.append(SpokenLine(**u.model_dump(), start_s=round(t, 3), end_s=round(t + length, 3)))
            t += length
    return out


def _spread(speech: list[Utterance], duration: float) -> list[SpokenLine]:
    """One voice read it all: each utterance's place estimated by its share of the characters."""
    total = sum(len(u.text) for u in speech) or 1
    out, t = [], 0.0
    for u in speech:
        length = duration * len(u.text) / total
        out.append(SpokenLine(**u.model_dump(), start_s=round(t, 3), end_s=round(t + length, 3)))
        t += length
    return out


def align_words(text: str, heard: list[WordTiming], duration: float) -> list[WordTiming]:
    """A timing for each whitespace-separated word of `text` from the words the voice said it spoke (`heard`,
    which may differ: quotes dropped between parts, a dash on its own). Words are matched by their letters; a
    word not matched is placed between its matched neighbours, sharing the gap with others unmatched there."""
    tokens = text.split()
    if not tokens:
        return []
    key = lambda w: "".join(c for c in w.casefold() if c.isalnum())  # noqa: E731
    found: dict[int, WordTiming] = {}
    matcher = difflib.SequenceMatcher(None, [key(t) for t in tokens], [key(w.word) for w in heard], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            found[block.a + k] = heard[block.b + k]
    out: list[WordTiming] = []
    i = 0
    while i < len(tokens):
        if i in found:
            out.append(WordTiming(word=tokens[i], start_s=found[i].start_s, end_s=found[i].end_s))
            i += 1
            continue
        j = i
        while j < len(tokens) and j not in found:
            j += 1
        start = out[-1].end_s if out else 0.0
        end = max(start, found[j].start_s if j < len(tokens) else duration)
        step = (end - start) / (j - i)
        out += [WordTiming(word=tokens[k], start_s=round(start + step * (k - i), 4), end_s=round(start + step * (k - i + 1), 4))
                for k in range(i, j)]  # fmt: skip
        i = j
    return out


def find_pauses(mono: np.ndarray, rate: int, min_pause_s: float = 0.15, frame_s: float = 0.02) -> list[float]:
    """Middles of the quiet stretches inside the speech (mono samples; not before or after it), in seconds:
    frames whose RMS is 30 dB or more under the clip's loudest, lasting at least `min_pause_s`."""
    n = int(rate * frame_s)
    if n <= 0 or len(mono) < 2 * n:
        return []
    frames = mono[: len(mono) // n * n].reshape(-1, n).astype(np.float64)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    quiet = rms < max(rms.max(), 1e-9) * 10 ** (-30 / 20)
    loud = np.flatnonzero(~quiet)
    if not len(loud):
        return []
    out, run = [], None
    for i in range(loud[0], loud[-1] + 1):
        if quiet[i] and run is None:
            run = i
        elif not quiet[i] and run is not None:
            if (i - run) * frame_s >= min_pause_s:
                out.append(round((run + i) / 2 * frame_s, 3))
            run = None
    return out
