"""`Compose`: shots, pictures and narration -> the edit: the timeline, subtitles (SRT and WebVTT), and the pieces
the picture is made of (each shot's body and each transition; storyforge/timeline.py `plan_pieces`).

A narrated shot lasts its lead-in, its measured speech, the tail and the plan's silent beat (`hold_s`); only a
shot without narration keeps its planned duration. Subtitle cues break at punctuation and sit at the pauses of
the speech (storyforge/timeline.py `shot_cues`); with `captions=words` and a voice that says when each word is
heard, they start when their first word does, and `highlight_words` burns in a cue per word with it marked.

Everything here is data, computed before any media work: the `segments` stage renders the pieces (one cached
item each), `mix` makes the sound, `film` joins them. A piece's cache key is what it shows, not where it sits,
so a narration edit that moves every later shot re-renders only the pieces whose slot length changed.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from storyforge import text as tx
from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.models import Artifact, Edit, NarrationClip, ShotList, ShotVisual, Transition
from storyforge.timeline import Transitions, build_timeline, plan_pieces, to_srt, to_vtt

log = logging.getLogger("storyforge")


class Compose(Stage):
    export = "edit.json"
    version = "4"  # 4: a narrated shot lasts as long as its speech; cues at punctuation and pauses, none under 0.8 s

    class Params(Params):
        width: int = 1280  # output frame width
        height: int = 720  # output frame height
        fps: int = 24  # output frame rate
        lead_in_s: float = 0.3  # silence before a shot's narration starts
        tail_s: float = 0.5  # silence after it ends, before the next shot (plus the shot's own `hold_s`)
        within_scene: Transition = Transition.crossfade  # cut | crossfade | fade_black between shots of a scene
        between_scenes: Transition = Transition.fade_black  # ... and between scenes
        crossfade_s: float = 0.5  # length of a crossfade
        fade_black_s: float = 1.0  # length of a fade through black
        ken_burns: bool = True  # pan and zoom over stills
        burn_subtitles: bool = False  # draw subtitles into the picture, per piece (instead of the soft track)
        # words: cues start when their first word is heard (where the voice gives word timings: tone, kokoro; else
        # sentence cues stay). Left out of the key at their defaults, so caches from before them stay valid.
        captions: Literal["sentence", "words"] = Field("sentence", exclude_if=lambda mode: mode == "sentence")
        highlight_words: bool = Field(False, exclude_if=lambda on: not on)  # burn in a cue per word, marked (and
        # captions=words)

    async def run(self, ctx: RunContext, shots: ShotList, visuals: list[ShotVisual], narration: list[NarrationClip]) -> Edit:
        p = self.params
        transitions = Transitions(p.within_scene, p.between_scenes, p.crossfade_s, p.fade_black_s)
        clips = {c.shot_id: c for c in narration}
        burn, captions = p.burn_subtitles or p.highlight_words, "words" if p.highlight_words else p.captions
        timeline = build_timeline(shots.shots, clips, p.width, p.height, p.fps, p.lead_in_s, p.tail_s, transitions,
                                  p.ken_burns, captions, p.highlight_words)  # fmt: skip
        if captions == "words" and (untimed := [e.shot_id for e in timeline.entries if tx.words(e.text) and not e.words]):
            log.warning(
                "captions=words: %d of %d shots have no word timings (their voice gives none, or their narration was "
                "cached before word timings): sentence cues for those. Fix: audio/tts=kokoro or tone; "
                "cache.refresh=[narration] re-speaks cached clips.", len(untimed), len(timeline.entries),
            )  # fmt: skip
        srt, vtt = ctx.path("subtitles.srt"), ctx.path("subtitles.vtt")
        srt.write_text(to_srt(timeline.cues), encoding="utf-8")
        vtt.write_text(to_vtt(timeline.cues), encoding="utf-8")
        return Edit(
            timeline=timeline,
            subtitles=Artifact(name="subtitles.srt", media_type="application/x-subrip", path=srt),
            webvtt=Artifact(name="subtitles.vtt", media_type="text/vtt", path=vtt),
            pieces=plan_pieces(timeline, {v.shot_id: v for v in visuals}, burn),
            burned_in=burn,
        )

    def report(self, output: Edit) -> dict:
        return {"shots": len(output.timeline.entries), "pieces": len(output.pieces), "seconds": output.timeline.duration_s}
