"""`RenderSegment`: one piece of the edit -> its video segment, fanned out with `for_each: compose`.

A piece is a shot's body or a transition between two shots (storyforge/timeline.py `plan_pieces`); its key is
what it shows (pictures by digest, motion, frames of the slot, render size, fps, the compositor's encoder
settings, burned-in cues in its own time), so editing one shot re-renders its body and the transitions that
touch it, and a shot that only moves in the film is a cache hit. Segments render in parallel under the
compositor's limiter (one more than the machine's cores), or on Ray actors with `executor=ray`.
"""

from __future__ import annotations

from storyforge.engine.contract import RunContext, Stage
from storyforge.models import Artifact, Piece, Segment


class RenderSegment(Stage):
    uses = ("compositor",)

    async def run(self, ctx: RunContext, piece: Piece) -> Segment:
        out = await self.compositor.render_segment(piece, ctx.path(f"{piece.id}.mp4"), ctx.run_dir)
        return Segment(
            piece=piece.id, media=Artifact(name=f"segments/{piece.id}.mp4", media_type="video/mp4", path=out), frames=piece.frames
        )

    def report(self, output: Segment) -> dict:
        return {"frames": output.frames}
