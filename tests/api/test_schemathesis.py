"""Schemathesis: property-based requests against every operation in /api/schema/.

Each operation gets up to ``EXAMPLES`` generated requests (positive data generation: bodies and
parameters valid per the schema), sent through the WSGI app with an API key holding every scope
(every endpoint is open to its scope; what the key's integration account may not do answers 403).
Checks: no 5xx, and every documented response matches its schema and content type.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from leadflow.apikeys import Scope

EXAMPLES = 5

with override_settings(LEADFLOW_API_DOCS_PUBLIC=True):  # the schema needs a login otherwise
    schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request must not close the test's DB connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(make_api_key):
    secret, _ = make_api_key(*[scope.value for scope in Scope], rate_limit=1_000_000)
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, auth_headers):
    case.call_and_validate(
        headers=auth_headers,
        checks=[
            schemathesis.checks.not_a_server_error,
            response_schema_conformance,
            content_type_conformance,
        ],
    )
