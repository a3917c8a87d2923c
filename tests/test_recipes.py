"""Every committed recipe runs on profile=debug_cpu, so no experiment rots."""

import pytest

from storyforge.config import recipe_names
from tests.conftest import FIXTURES


@pytest.mark.parametrize("recipe", recipe_names())
def test_recipe_runs_on_debug_cpu(run, recipe):
    result = run(f"recipe={recipe}", f"story={FIXTURES / 'two_scenes.txt'}")
    assert result.manifest.status == "succeeded"
    assert all(stage.misses + stage.hits > 0 for stage in result.manifest.stages.values())
