"""`Narrate`: one shot's narration text -> speech, fanned out with `for_each: shots`.

Quoted dialogue is spoken in a voice of its own per speaker where the backend has several (the speaker is the
cast member named next to the quote, e.g. `"Go!" Tom said.`), joined to the narrator's lines with a short
pause. The clip's duration is measured from the audio, so real voices drive the timeline and the subtitles.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from storyforge import text as tx
from storyforge.engine.contract import Params, RunContext, Stage, gather
from storyforge.media import media_type, read_wav, resample, wav_duration, write_wav
from storyforge.models import Artifact, NarrationClip, Shot, Story, VoiceType


class Narrate(Stage):
    uses = ("tts",)

    reads = {"shot": ("scene_index", "index", "narration", "characters"), "story": ("language", "characters")}

    class Params(Params):
        dialogue_voices: bool = True  # speak quoted dialogue in the speaker's voice (backends with several)
        pause_s: float = 0.12  # silence between the narrator's and a speaker's lines

    async def run(self, ctx: RunContext, shot: Shot, story: Story) -> NarrationClip:
        lines = [(VoiceType.narrator, shot.narration, "")]
        if self.params.dialogue_voices and self.tts.multi_voice:
            spans = tx.quoted_spans(shot.narration)
            cast = [(n, c.name) for c in story.characters for n in [c.name, *c.aliases]]
            lines = [
                (VoiceType.dialogue, span, self._speaker(spans, i, cast, shot)) if quoted else (VoiceType.narrator, span, "")
                for i, (quoted, span) in enumerate(spans)
            ] or lines

        lines = [line for line in lines if tx.words(line[1])]  # nothing to say in "—" between two quotes
        if not lines:  # a shot without narration: a moment of silence, not a backend error
            path = write_wav(ctx.path(f"{shot.id}.wav"), np.zeros(int(0.3 * 24000), dtype=np.float32), 24000)
            audio = Artifact(name=f"narration/{shot.id}.wav", media_type=media_type(path), path=path)
            return NarrationClip(shot_id=shot.id, text=shot.narration, audio=audio, duration_s=0.3, backend="silence")
        names = [c.name for c in story.characters]
        slots = [names.index(s) if s in names else len(names) for _, _, s in lines]  # a voice per cast member

        async def speak(i: int) -> Path:
            kind, text, _ = lines[i]
            return await self.tts.speak(text, story.language, ctx.seed, ctx.path(f"{shot.id}-{i}.wav"), kind, slots[i])

        parts = await gather(speak, range(len(lines)))
        path = parts[0] if len(parts) == 1 else self._join(parts, ctx.path(f"{shot.id}.wav"))
        audio = Artifact(name=f"narration/{shot.id}.wav", media_type=media_type(path), path=path)
        voices = [self.tts.voice_for(story.language, kind, slot) for (kind, _, _), slot in zip(lines, slots, strict=True)]
        return NarrationClip(
            shot_id=shot.id,
            text=shot.narration,
            voice=VoiceType.dialogue if any(k == VoiceType.dialogue for k, _, _ in lines) else VoiceType.narrator,
            audio=audio,
            duration_s=round(wav_duration(path), 4),
            backend=self.tts.name,
            voices=list(dict.fromkeys(voices)),
            speakers=list(dict.fromkeys(s for _, _, s in lines if s)),
        )

    def report(self, output: NarrationClip) -> dict:
        return {
            "backend": output.backend,
            "voices": output.voices,
            "speakers": output.speakers,
            "chars": len(output.text),
            "seconds": output.duration_s,
        }

    @staticmethod
    def _speaker(spans: list[tuple[bool, str]], i: int, cast: list[tuple[str, str]], shot: Shot) -> str:
        """Who says quote `i`: a cast name just after it ("…," Tom said), else just before it (Tom said: "…")."""
        after = " ".join(tx.words(spans[i + 1][1])[:5]) if i + 1 < len(spans) and not spans[i + 1][0] else ""
        before = " ".join(tx.words(spans[i - 1][1])[-5:]) if i > 0 and not spans[i - 1][0] else ""
        for text in (after, before):
            for name, canonical in cast:
                if re.search(rf"\b{re.escape(name)}\b", text):
                    return canonical
        return shot.characters[0] if shot.characters else "someone"

    def _join(self, parts: list[Path], out: Path) -> Path:
        clips = [read_wav(p) for p in parts]
        rate = clips[0][1]
        gap = np.zeros(int(self.params.pause_s * rate), dtype=np.float32)
        mono = [resample(s if s.ndim == 1 else s.mean(axis=1), r, rate) for s, r in clips]
        return write_wav(out, np.concatenate([x for clip in mono for x in (clip, gap)][:-1]), rate)
