"""`Score`: the scenes -> one loopable music bed for the story, in the mood most scenes share."""

from __future__ import annotations

from collections import Counter

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.media import media_type, wav_duration
from storyforge.models import Artifact, MusicTrack, SceneList


class Score(Stage):
    uses = ("music",)

    class Params(Params):
        mood: str | None = None  # force a mood; None: the most common scene mood

    async def run(self, ctx: RunContext, scenes: SceneList) -> MusicTrack:
        mood = self.params.mood or Counter(s.mood for s in scenes.scenes).most_common(1)[0][0]
        path = await self.music.compose(mood, ctx.seed, ctx.path("music.wav"))
        audio = Artifact(name="music.wav", media_type=media_type(path), path=path)
        return MusicTrack(audio=audio, duration_s=round(wav_duration(path), 4), mood=mood)
