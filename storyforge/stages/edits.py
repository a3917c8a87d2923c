"""`ApplyShotEdits`: the planned shots, flattened into story order, with the user's per-shot edits applied.

Edits live here rather than in `PlanShots` so that changing one shot never re-plans a scene: only that shot's
downstream items (its picture, its voice) and the final mix run again. Example override:
`+stages.shots.edits.s01_02.description="A red door in the fog"`. The fields an edit may set are `ShotEdit`'s
(description, narration, shot_type, camera, duration_s, characters, take to re-roll the picture's seed, and
the transition into the shot); the studio's revisions (`POST /v1/jobs/{id}/revisions`) write the same edits.
"""

from __future__ import annotations

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import StoryforgeError
from storyforge.models import ScenePlan, Shot, ShotEdit, ShotList


class ApplyShotEdits(Stage):
    export = "shots.json"

    class Params(Params):
        edits: dict[str, ShotEdit] = {}  # shot id (e.g. s01_02) -> the fields of the shot to replace

    async def run(self, ctx: RunContext, plan: list[ScenePlan]) -> ShotList:
        shots = [shot for scene in plan for shot in scene.shots]
        by_id = {shot.id: shot for shot in shots}
        unknown = sorted(set(self.params.edits) - set(by_id))
        if unknown:
            raise StoryforgeError(
                f"stages.shots.edits names shots {unknown} that the plan does not have.",
                f"use ids from shots.json, e.g. {', '.join(list(by_id)[:4])}.",
            )
        return ShotList(shots=[apply(shot, self.params.edits.get(shot.id)) for shot in shots])


def apply(shot: Shot, edit: ShotEdit | None) -> Shot:
    """The shot with the edit's fields in place of the plan's."""
    return Shot.model_validate({**shot.model_dump(), **edit.changes()}) if edit and edit.changes() else shot
