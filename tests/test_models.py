import inspect

from pydantic import BaseModel

from storyforge import models
from storyforge.models import Shot, ShotType


def all_models() -> list[type[BaseModel]]:
    return [
        m
        for _, m in inspect.getmembers(models, inspect.isclass)
        if issubclass(m, BaseModel) and m.__module__ == models.__name__ and not m.__name__.startswith("_")
    ]


def test_every_field_has_a_description():
    missing = [f"{m.__name__}.{name}" for m in all_models() for name, f in m.model_fields.items() if not f.description]
    assert missing == []


def test_shot_id_and_json_round_trip():
    shot = Shot(scene_index=2, index=7, shot_type=ShotType.close_up, description="d", narration="n", duration_s=3.0)
    assert shot.id == "s02_07"
    assert Shot.model_validate_json(shot.model_dump_json()) == shot


def test_artifact_path_is_never_serialised(tmp_path):
    art = models.Artifact(name="shots/a.png", media_type="image/png", path=tmp_path / "x.png")
    assert "path" not in art.model_dump()
