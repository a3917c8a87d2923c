"""Schemathesis generates requests from the OpenAPI schema (valid and invalid, with and without a key): the
service answers every one without a server error."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from storyforge.api.dependencies import Settings  # noqa: E402
from storyforge.api.main import create_app  # noqa: E402


def make_app():
    import tempfile
    from pathlib import Path

    data = Path(tempfile.mkdtemp(prefix="storyforge-fuzz-"))
    # no worker: fuzzed jobs stay queued (running them is the other tests' work)
    return create_app(Settings(api_keys=["k-fuzz"], data_dir=data, overrides=["profile=debug_cpu"]), start_worker=False)


APP = make_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def lifespan():
    from fastapi.testclient import TestClient

    with TestClient(APP):  # runs the lifespan: the job store opens
        yield


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(case):
    for headers in ({"X-API-Key": "k-fuzz"}, {}):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
