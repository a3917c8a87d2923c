"""`Compose`: shots, pictures, narration and music -> the timeline, subtitles (SRT and WebVTT) and the MP4.

The timeline is computed here, as data, before any media work; the compositor service only renders it.
"""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.models import Artifact, MusicTrack, NarrationClip, ShotList, ShotVisual, Transition, Video
from storyforge.timeline import Transitions, build_timeline, to_srt, to_vtt


class Compose(Stage):
    uses = ("compositor",)
    export = "video.json"

    class Params(Params):
        width: int = 1280  # output frame width
        height: int = 720  # output frame height
        fps: int = 24  # output frame rate
        lead_in_s: float = 0.3  # silence before a shot's narration starts
        tail_s: float = 0.5  # silence after it ends, before the next shot
        within_scene: Transition = Transition.crossfade  # cut | crossfade | fade_black between shots of a scene
        between_scenes: Transition = Transition.fade_black  # ... and between scenes
        crossfade_s: float = 0.5  # length of a crossfade
        fade_black_s: float = 1.0  # length of a fade through black
        ken_burns: bool = True  # pan and zoom over stills
        burn_subtitles: bool = False  # draw subtitles into the picture (the soft track is always there)

    async def run(
        self, ctx: RunContext, shots: ShotList, visuals: list[ShotVisual], narration: list[NarrationClip], music: MusicTrack
    ) -> Video:
        p = self.params
        clips = {c.shot_id: c for c in narration}
        transitions = Transitions(p.within_scene, p.between_scenes, p.crossfade_s, p.fade_black_s)
        timeline = build_timeline(shots.shots, clips, p.width, p.height, p.fps, p.lead_in_s, p.tail_s, transitions, p.ken_burns)
        srt, vtt, graph, mp4 = (ctx.path(n) for n in ("subtitles.srt", "subtitles.vtt", "filtergraph.txt", "final.mp4"))
        srt.write_text(to_srt(timeline.cues), encoding="utf-8")
        vtt.write_text(to_vtt(timeline.cues), encoding="utf-8")
        duration = await self.compositor.compose(
            timeline, {v.shot_id: v for v in visuals}, clips, music, srt, mp4,
            burn_subtitles=p.burn_subtitles, graph_file=graph, log_dir=ctx.run_dir,
        )  # fmt: skip
        extras = [Artifact(name=graph.name, media_type="text/plain", path=graph)] if graph.exists() else []
        return Video(
            mp4=Artifact(name="final.mp4", media_type="video/mp4", path=mp4),
            subtitles=Artifact(name="subtitles.srt", media_type="application/x-subrip", path=srt),
            webvtt=Artifact(name="subtitles.vtt", media_type="text/vtt", path=vtt),
            extras=extras,
            timeline=timeline,
            duration_s=round(duration, 3),
        )
