"""Property-based tests generated from the API's own OpenAPI schema (Schemathesis).

Every operation gets a bounded number of generated requests, valid and invalid, sent
in-process through the WSGI application with a token holding every scope; each answer
must not be a server error and must conform to the schema (status code, content type,
headers, body).
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from release_portal.api.api import api as ninja_api

# No server error, and every answer as documented. Not "positive data acceptance": a
# schema-valid request may still name an unknown step or owner, which is a 422 by design.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

loaded = schemathesis.openapi.from_dict(ninja_api.get_openapi_schema(path_prefix="/api/"))
loaded.app = get_wsgi_application()
schema: BaseSchema = loaded


@pytest.fixture
def in_process(settings):
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    # Django closes the database connection at the end of each WSGI request, which would
    # end the test's transaction; its own test client turns that off the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_it_answers_generated_requests_within_its_schema(case, in_process, api, approved_release):
    # Random ids would almost never name a real release: point every other valid one at
    # the approved release (and its project), so generated bodies reach the services.
    # A part generated to be invalid (a negative case) is left as generated: replacing it,
    # or adding the token a case left out on purpose, would make it valid again.
    negative = {
        location
        for location, info in case.meta.components.items()
        if info.mode == GenerationMode.NEGATIVE
    } if case.meta else set()  # fmt: skip
    params = case.path_parameters or {}
    release_id = params.get("release_id")
    if (
        ParameterLocation.PATH not in negative
        and isinstance(release_id, int)
        and release_id >= 1
        and release_id % 2 == 0
    ):
        params["release_id"] = approved_release.pk
    if (
        ParameterLocation.PATH not in negative
        and isinstance(params.get("slug"), str)
        and len(params["slug"]) % 2 == 0
    ):
        params["slug"] = approved_release.project.slug
    headers = (
        {} if ParameterLocation.HEADER in negative else {"Authorization": f"Bearer {api.value}"}
    )
    case.call_and_validate(headers=headers, checks=CHECKS)
