"""`Film`: the edit's segments and the sound -> the MP4, joined and muxed by stream copy (no re-encoding), with
the soft subtitle track (left out when the subtitles are burned in). Its cost is about a copy of the film's
bytes, so an edit that re-rendered one segment costs that segment, its transitions, and this copy."""

from __future__ import annotations

from storyforge.engine.contract import RunContext, Stage
from storyforge.models import Artifact, Edit, Segment, Soundtrack, Video


class Film(Stage):
    uses = ("compositor",)
    export = "video.json"

    async def run(self, ctx: RunContext, edit: Edit, segments: list[Segment], mix: Soundtrack) -> Video:
        mp4 = ctx.path("final.mp4")
        duration = await self.compositor.assemble(
            [s.media.path for s in segments], mix.audio.path, None if edit.burned_in else edit.subtitles.path,
            edit.timeline.duration_s, mp4, ctx.run_dir,
        )  # fmt: skip
        return Video(
            mp4=Artifact(name="final.mp4", media_type="video/mp4", path=mp4),
            subtitles=edit.subtitles,
            webvtt=edit.webvtt,
            extras=mix.extras,
            timeline=edit.timeline,
            duration_s=round(duration, 3),
            loudness_lufs=mix.loudness_lufs,  # its sound is the mix, copied: no need to decode it again
        )
