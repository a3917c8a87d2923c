"""`Narrate`: one shot's narration text -> speech, fanned out with `for_each: shots`. The clip's duration is
measured from the audio, so real voices drive the timeline and the subtitles."""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.media import media_type, wav_duration
from storyforge.models import Artifact, NarrationClip, Shot, Story


class Narrate(Stage):
    uses = ("tts",)

    reads = {"shot": ("scene_index", "index", "narration"), "story": ("language",)}

    class Params(Params):
        pass

    async def run(self, ctx: RunContext, shot: Shot, story: Story) -> NarrationClip:
        path = await self.tts.speak(shot.narration, story.language, ctx.seed, ctx.path(f"{shot.id}.wav"))
        audio = Artifact(name=f"narration/{shot.id}.wav", media_type=media_type(path), path=path)
        return NarrationClip(shot_id=shot.id, text=shot.narration, audio=audio, duration_s=round(wav_duration(path), 4))
