"""`Score`: the scenes -> music. By default one loopable bed for the story, in the mood most scenes share. With
`per_scene: true`, one bed per scene mood; the compose stage lays each under its scenes and crossfades them at
scene changes (it knows when scenes start)."""

from __future__ import annotations

from collections import Counter

from storyforge.engine.contract import Params, RunContext, Stage, gather
from storyforge.media import media_type, wav_duration
from storyforge.models import Artifact, MusicTrack, SceneList


class Score(Stage):
    uses = ("music",)

    class Params(Params):
        mood: str | None = None  # force a mood; None: each scene's (per_scene) or the most common one
        per_scene: bool = False  # a bed per scene mood, crossfaded at scene changes

    async def run(self, ctx: RunContext, scenes: SceneList) -> MusicTrack:
        moods = {s.index: self.params.mood or s.mood for s in scenes.scenes}
        main = Counter(moods.values()).most_common(1)[0][0]
        if not self.params.per_scene:
            path = await self.music.compose(main, ctx.seed, ctx.path("music.wav"))
            audio = Artifact(name="music.wav", media_type=media_type(path), path=path)
            return MusicTrack(audio=audio, duration_s=round(wav_duration(path), 4), mood=main)
        distinct = list(dict.fromkeys(moods.values()))
        paths = await gather(lambda i: self.music.compose(distinct[i], ctx.seed + i, ctx.path(f"music-{distinct[i]}.wav")),
                             range(len(distinct)))  # fmt: skip
        beds = {
            m: Artifact(name=f"music/{m}.wav", media_type=media_type(p), path=p) for m, p in zip(distinct, paths, strict=True)
        }
        first = beds[moods[min(moods)]]
        return MusicTrack(audio=first, duration_s=round(wav_duration(first.path), 4), mood=main, beds=beds, scene_moods=moods)

    def report(self, output: MusicTrack) -> dict:
        return {"mood": output.mood, "beds": sorted(output.beds), "seconds": output.duration_s}
