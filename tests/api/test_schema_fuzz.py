"""Schemathesis generates requests from the OpenAPI schema (valid and invalid, with and without a key, with
methods the schema does not list) and runs every check it has (`-c all`): no server error, every status code,
content type, header and body as documented, invalid data rejected, auth not ignored, 405 with Allow."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from storyforge.api.dependencies import Settings  # noqa: E402
from storyforge.api.main import create_app  # noqa: E402

KEY = "k-fuzz"


def make_app():
    import tempfile
    from pathlib import Path

    data = Path(tempfile.mkdtemp(prefix="storyforge-fuzz-"))
    # no worker: fuzzed jobs stay queued (running them is the other tests' work). Wrong keys and the request rate
    # are not throttled here: schemathesis sends thousands, and ignored_auth wants each wrong key to be a 401
    # (the back-off's 429 is tested in tests/api/test_faults.py).
    return create_app(
        Settings(api_keys=[KEY], data_dir=data, overrides=["profile=debug_cpu"], free_key_tries=10**9, rate_per_min=0,
                 jobs_per_key=10**6, queue_limit=10**6),
        start_worker=False,
    )  # fmt: skip


APP = make_app()
# A schema-valid story can still be refused with 422 for what a schema cannot say (no words, control characters,
# a profile or voice this server cannot run, a recipe that does not exist), so positive data may get 422 too.
CONFIG = schemathesis.Config.from_dict(
    {"headers": {"X-API-Key": KEY},
     "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "404", "409", "413", "422", "429"]}}}
)  # fmt: skip
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@pytest.fixture(scope="module", autouse=True)
def lifespan():
    from fastapi.testclient import TestClient

    with TestClient(APP):  # runs the lifespan: the job store opens
        yield


def test_the_schema_is_valid_openapi_and_every_reference_resolves():
    from openapi_spec_validator import validate

    schema = APP.openapi()
    validate(schema)

    def refs(node):
        if isinstance(node, dict):
            yield from ([node["$ref"]] if isinstance(node.get("$ref"), str) else [])
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    components = schema["components"]["schemas"]
    missing = {r for r in refs(schema) if r.removeprefix("#/components/schemas/") not in components}
    assert not missing, missing


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_check_passes(case):
    case.call_and_validate()  # every check schemathesis has


# Stateful: sequences that follow the schema's links (submit, then follow, cancel, delete, fetch the video), so
# the checks that need history run too: a deleted job is gone (use_after_free), a created one can be read
# (ensure_resource_availability).
class JobSequences(schema.as_state_machine()):
    def setup(self) -> None:
        """Each sequence starts from an empty store, so replaying one gives the same answers."""
        from storyforge.api.dependencies import owner_of
        from storyforge.api.store import JobStore

        store = JobStore(APP.state.settings.data_dir / "jobs.sqlite")  # its own connection: the app's may be
        try:  # closed here (Schemathesis runs the app's lifespan around its calls)
            while rows := store.page(owner_of(KEY), 1, 100)[0]:
                for row in rows:
                    store.delete(row["id"])
        finally:
            store.close()


TestJobSequences = JobSequences.TestCase
TestJobSequences.settings = settings(
    max_examples=15, deadline=None, stateful_step_count=5, suppress_health_check=list(HealthCheck)
)
