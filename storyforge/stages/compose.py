"""`Compose`: shots, pictures, narration and music -> the timeline, subtitles and the final MP4."""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.models import Artifact, MusicTrack, NarrationClip, ShotList, ShotVisual, Video
from storyforge.timeline import build_timeline, to_srt


class Compose(Stage):
    uses = ("compositor",)
    export = "video.json"

    class Params(Params):
        width: int = 1280  # output frame width
        height: int = 720  # output frame height
        fps: int = 24  # output frame rate
        lead_in_s: float = 0.3  # silence before a shot's narration starts
        tail_s: float = 0.5  # silence after it ends, before the next shot

    async def run(
        self, ctx: RunContext, shots: ShotList, visuals: list[ShotVisual], narration: list[NarrationClip], music: MusicTrack
    ) -> Video:
        p = self.params
        clips = {c.shot_id: c for c in narration}
        timeline = build_timeline(shots.shots, clips, p.width, p.height, p.fps, p.lead_in_s, p.tail_s)
        srt = ctx.path("subtitles.srt")
        srt.write_text(to_srt(timeline.cues), encoding="utf-8")
        mp4 = ctx.path("final.mp4")
        duration = await self.compositor.compose(timeline, {v.shot_id: v for v in visuals}, clips, music, srt, mp4)
        return Video(
            mp4=Artifact(name="final.mp4", media_type="video/mp4", path=mp4),
            subtitles=Artifact(name="subtitles.srt", media_type="application/x-subrip", path=srt),
            timeline=timeline,
            duration_s=round(duration, 3),
        )
