"""Schemathesis: property-based requests against every operation in /api/schema/.

Every operation runs twice, through the WSGI app:

- as an admin's session (CSRF token included, so writes really happen): Schemathesis' explicit
  examples, its coverage phase (boundary values, wrong types, missing fields, unexpected methods)
  and ``EXAMPLES`` generated requests (valid and invalid);
- with an API key holding every scope: the explicit examples and ``EXAMPLES`` generated requests.
  What the key's integration account may not do answers a documented 403; the coverage phase is
  left to the session run unless ``LEADFLOW_SCHEMATHESIS_KEY_COVERAGE=1`` (CI time).

A detail route (``{id}``) is pointed at a real seeded row for the even generated ids, so updates
and deletes meet rows other rows depend on (tests/api/seed.py). Checks: no 5xx, every status code
documented, every response matches its schema and content type.

``LEADFLOW_SCHEMATHESIS_EXAMPLES=30 LEADFLOW_SCHEMATHESIS_KEY_COVERAGE=1 scripts/test
tests/api/test_schemathesis.py`` runs deeper; ``LEADFLOW_SCHEMATHESIS_COVERAGE=0`` leaves the
coverage phase out of the session run too (a quick run). The totals (operations, cases by status class,
server errors, failed operations per auth) are printed at the end of the run (conftest.py).
"""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.db.models import Model
from django.test import Client, override_settings
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leadflow.apikeys import Scope
from leadflow.roles import Role
from tests.api.seed import seed_every_model
from tests.leads.factories import UserFactory

EXAMPLES = int(os.environ.get("LEADFLOW_SCHEMATHESIS_EXAMPLES", "5"))
# the coverage phase is most of the cost (about 10,000 of the session run's 11,000 cases)
COVERAGE = os.environ.get("LEADFLOW_SCHEMATHESIS_COVERAGE", "1") == "1"
KEY_COVERAGE = os.environ.get("LEADFLOW_SCHEMATHESIS_KEY_COVERAGE", "") == "1"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
CSRF_TOKEN = "schemathesisCsrfToken0123456789a"  # noqa: S105  (32 letters: cookie = header)
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


def _load(*, coverage: bool) -> schemathesis.schemas.BaseSchema:
    with override_settings(LEADFLOW_API_DOCS_PUBLIC=True):  # the schema needs a login otherwise
        loaded = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    loaded.config.phases.coverage.enabled = coverage
    return loaded


session_schema = _load(coverage=COVERAGE)
key_schema = _load(coverage=KEY_COVERAGE)


@pytest.fixture
def seeded(db) -> None:
    seed_every_model()


def _existing_row(path: str) -> Model | None:
    """A stored row of the model behind a detail route, if there is one."""
    try:
        view = resolve(path).func
    except Resolver404:
        return None
    queryset = getattr(getattr(view, "cls", None), "queryset", None)
    if queryset is None:
        return None
    row: Model | None = queryset.model._default_manager.order_by("pk").first()
    return row


def _point_at_a_real_row(case) -> None:
    code = str(case.path_parameters.get("currency", ""))
    if code and ord(code[0]) % 2 == 0:  # half the exchange-rate cases meet the seeded HUF
        case.path_parameters["currency"] = "HUF"
    value = str(case.path_parameters.get("id", ""))
    if not value.isascii() or not value.isdigit() or int(value) % 2:
        return  # odd or non-integer ids stay as generated (mostly: no such row)
    row = _existing_row(case.operation.path.replace("{id}", "1"))
    if row is not None:
        case.path_parameters["id"] = row.pk


def _call_and_check(case, tally, **credentials) -> None:
    _point_at_a_real_row(case)
    response = case.call(**credentials)
    tally[response.status_code] += 1
    case.validate_response(response, checks=CHECKS, headers=credentials.get("headers"))


@pytest.fixture
def admin_session() -> dict[str, dict[str, str]]:
    client = Client()
    client.force_login(UserFactory(username="schemathesis-admin", role=Role.ADMIN))
    return {
        "headers": {"X-CSRFToken": CSRF_TOKEN},
        "cookies": {"sessionid": client.cookies["sessionid"].value, "csrftoken": CSRF_TOKEN},
    }


@pytest.mark.django_db
@session_schema.parametrize()
@HYPOTHESIS
@pytest.mark.usefixtures("keep_the_test_connection", "seeded")
def test_api_as_an_admin_session(case, admin_session, schemathesis_tally):
    case.headers.pop("Authorization", None)  # else a generated "key" is tried first: 401
    _call_and_check(case, schemathesis_tally, **admin_session)


@pytest.mark.django_db
@key_schema.parametrize()
@HYPOTHESIS
@pytest.mark.usefixtures("keep_the_test_connection", "seeded")
def test_api_with_an_api_key(case, make_api_key, schemathesis_tally):
    secret, _ = make_api_key(*(s.value for s in Scope), rate_limit=1_000_000)
    _call_and_check(case, schemathesis_tally, headers={"Authorization": f"Bearer {secret}"})
