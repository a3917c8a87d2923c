"""`ApplyShotEdits`: the planned shots, flattened into story order, with the user's per-shot edits applied.

Edits live here rather than in `PlanShots` so that changing one shot never re-plans a scene: only that shot's
downstream items (its picture, its voice) and the final mix run again. Example override:
`+stages.shots.edits.s01_02.description="A red door in the fog"`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from storyforge.engine.contract import Params, RunContext, Stage
from storyforge.errors import StoryforgeError
from storyforge.models import ScenePlan, Shot, ShotList


class ApplyShotEdits(Stage):
    export = "shots.json"

    class Params(Params):
        edits: dict[str, dict[str, Any]] = {}  # shot id (e.g. s01_02) -> fields of Shot to replace

    async def run(self, ctx: RunContext, plan: list[ScenePlan]) -> ShotList:
        shots = [shot for scene in plan for shot in scene.shots]
        by_id = {shot.id: shot for shot in shots}
        unknown = sorted(set(self.params.edits) - set(by_id))
        if unknown:
            raise StoryforgeError(
                f"stages.shots.edits names shots {unknown} that the plan does not have.",
                f"use ids from shots.json, e.g. {', '.join(list(by_id)[:4])}.",
            )
        edited = []
        for shot in shots:
            change = self.params.edits.get(shot.id)
            try:
                edited.append(Shot.model_validate({**shot.model_dump(), **change}) if change else shot)
            except ValidationError as exc:
                raise StoryforgeError(
                    f"stages.shots.edits.{shot.id} is not a valid shot: {exc.errors()[0]['msg']}.",
                    "edit only fields of Shot (description, narration, shot_type, camera, duration_s).",
                ) from exc
        return ShotList(shots=edited)
