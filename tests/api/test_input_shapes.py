"""The shapes Schemathesis found as 500s, each pinned by a plain test (issue 15)."""

import inspect
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from handover.models import BusinessCalendarConfig, Handover, RejectionReason, SlaPolicy, SlaTimer
from leadflow.api.serializers import JSONField, SlugRelatedField
from leadflow.roles import Role
from leads.models import Lead
from privacy.models import ImportJob
from tests.handover.factories import calendar, framework, passed_checklist, policy
from tests.leads.factories import LeadFactory, UserFactory

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def admin_client(db):
    client = APIClient()
    client.force_authenticate(UserFactory(username="admin-api", role=Role.ADMIN))
    return client


# --- JSON fields sent form-encoded -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["null", "not json", "{"])
def test_a_lead_s_traits_sent_form_encoded_as_null_or_not_json_is_a_400_naming_traits(
    admin_client, text
):
    lead = LeadFactory(traits={"plan": "pro"})
    response = admin_client.patch(
        f"/api/v1/leads/{lead.pk}/", f"traits={text}&first_name=Changed", content_type=FORM
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["traits"]
    lead.refresh_from_db()
    assert lead.traits == {"plan": "pro"}
    assert lead.first_name != "Changed"  # nothing half-written


@pytest.mark.django_db
def test_an_integration_key_sending_traits_null_form_encoded_gets_a_400(make_api_key):
    secret, _ = make_api_key("leads:read", "leads:write")
    lead = LeadFactory(traits={"plan": "pro"})
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.patch(f"/api/v1/leads/{lead.pk}/", "traits=null", content_type=FORM)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"]["traits"] == ["This field may not be null."]
    assert Lead.objects.get(pk=lead.pk).traits == {"plan": "pro"}


@pytest.mark.django_db
def test_form_encoded_json_text_is_parsed_and_stored(admin_client):
    lead = LeadFactory(traits={})
    response = admin_client.patch(
        f"/api/v1/leads/{lead.pk}/", 'traits={"plan": "team"}', content_type=FORM
    )
    assert response.status_code == 200, response.content
    assert Lead.objects.get(pk=lead.pk).traits == {"plan": "team"}


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_calendar_s_holidays_sent_form_encoded_as_null_is_a_400_naming_holidays(
    admin_client, method
):
    cal = calendar(holidays=["2026-12-25"])
    body = "name=renamed&time_zone=UTC&holidays=null"
    if method == "put":
        body += '&working_hours={"mon": [["09:00", "17:00"]]}'
    response = getattr(admin_client, method)(
        f"/api/v1/handover/calendars/{cal.pk}/", body, content_type=FORM
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["holidays"]
    cal.refresh_from_db()
    assert (cal.name, cal.holidays) == ("always", ["2026-12-25"])


@pytest.mark.django_db
def test_a_json_null_for_a_json_field_is_the_same_400(admin_client):
    cal = calendar()
    response = admin_client.patch(
        f"/api/v1/handover/calendars/{cal.pk}/", {"holidays": None}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["holidays"]
    assert BusinessCalendarConfig.objects.get(pk=cal.pk).holidays == []


def _api_serializer_classes() -> list[type[serializers.BaseSerializer[Any]]]:
    import leadflow.urls  # noqa: F401  (imports every app's API modules)

    found, todo = [], [serializers.BaseSerializer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        module = cls.__module__.split(".")[0]
        if module in {
            "leadflow",
            "leads",
            "scoring",
            "handover",
            "reports",
            "predictive",
            "privacy",
            "companies",
        }:
            found.append(cls)
    return found


def _api_fields():
    """(where, field) for every field (and list child) of every API serializer."""
    for cls in _api_serializer_classes():
        if inspect.isabstract(cls) or cls.__name__ == "ModelSerializer":
            continue
        try:
            fields = cls().fields
        except (AssertionError, TypeError):
            continue  # needs constructor arguments; not an API body serializer
        for name, field in fields.items():
            for f in (field, getattr(field, "child", None)):
                if f is not None:
                    yield f"{cls.__module__}.{cls.__name__}.{name}", f


@pytest.mark.django_db
def test_every_json_field_of_every_api_serializer_reads_input_through_the_one_rule():
    """A serializer that builds DRF's JSONField itself would let form-encoded ``null`` through."""
    json_fields = [(where, f) for where, f in _api_fields() if isinstance(f, serializers.JSONField)]
    assert len(json_fields) >= 10
    assert [where for where, f in json_fields if not isinstance(f, JSONField)] == []


@pytest.mark.django_db
def test_every_writable_slug_field_refuses_nul_before_it_queries():
    """DRF's SlugRelatedField looks a NUL up in PostgreSQL: a DataError, a 500."""
    slugs = [
        (where, f)
        for where, f in _api_fields()
        if isinstance(f, serializers.SlugRelatedField) and not f.read_only
    ]
    assert slugs
    assert [where for where, f in slugs if not isinstance(f, SlugRelatedField)] == []


@pytest.mark.django_db
def test_an_import_naming_a_saved_mapping_with_a_nul_is_a_400_naming_the_field(admin_client):
    upload = SimpleUploadedFile("leads.csv", b"email\nann@example.com\n", "text/csv")
    response = admin_client.post(
        "/api/v1/privacy/imports/", {"file": upload, "mapping_name": "a\x00b"}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {
        "mapping_name": ["Null characters are not allowed."]
    }
    assert not ImportJob.objects.exists()


# --- non-integer ids ----------------------------------------------------------------------------


def _detail_paths() -> list[str]:
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(public=True)["paths"]
    return sorted(p for p in paths if "{id}" in p)


@pytest.mark.django_db
def test_every_detail_route_answers_a_non_integer_id_with_a_json_404(admin_client):
    paths = _detail_paths()
    assert len(paths) >= 30  # every app's detail and action routes
    for template in paths:
        path = template.replace("{id}", "AAA")
        response = admin_client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert response.json()["error"]["code"] == "not_found", path


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/predictive/leads/AAA/",  # was a ValueError (500)
        "/api/v1/reports/%0Ax/",  # a slug with a newline matched no route: Django's HTML 404
        "/api/v1/leads/1%0A/",
    ],
)
def test_an_api_path_no_route_matches_is_a_json_404_not_a_500_or_a_page(admin_client, path):
    response = admin_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


# --- deleting a row that others still use ---------------------------------------------------------


def _timer_on(sla):
    lead = LeadFactory()
    now = timezone.now()
    return SlaTimer.objects.create(
        lead=lead, policy=sla, stage="mql", started_at=now, due_at=now + timedelta(hours=1)
    )


def _protected_rows():
    """(URL of a row, what uses it) for every PROTECT foreign key an API DELETE can meet."""
    cal = calendar()
    sla = policy(cal=cal)
    timed = policy(stage="sal", cal=calendar("timed"))
    _timer_on(timed)
    _timer_on(timed)
    fw = framework()
    passed_checklist(LeadFactory())
    reason = RejectionReason.objects.create(code="too-small", label="Too small", route="nurture")
    Handover.objects.create(
        lead=LeadFactory(), opened_at=timezone.now(), status="rejected", rejection_reason=reason
    )
    return [
        (f"/api/v1/handover/calendars/{cal.pk}/", [("handover.slapolicy", "SLA policy", 1)]),
        (f"/api/v1/handover/sla-policies/{timed.pk}/", [("handover.slatimer", "sla timers", 2)]),
        (
            f"/api/v1/handover/frameworks/{fw.pk}/",
            [("handover.qualificationchecklist", "qualification checklist", 1)],
        ),
        (
            f"/api/v1/handover/rejection-reasons/{reason.pk}/",
            [("handover.handover", "handover", 1)],
        ),
    ], sla


@pytest.mark.django_db
def test_deleting_a_row_still_in_use_is_a_409_naming_what_uses_it_and_deletes_nothing(
    admin_client,
):
    rows, _ = _protected_rows()
    for url, users in rows:
        response = admin_client.delete(url)
        assert response.status_code == 409, (url, response.content)
        error = response.json()["error"]
        assert error["code"] == "in_use"
        assert [(u["model"], u["name"], u["count"]) for u in error["in_use"]] == users
        names = ", ".join(f"{count} {name}" for _, name, count in users)
        assert error["message"] == f"Still in use by {names}."
        assert admin_client.get(url).status_code == 200, url  # still there


@pytest.mark.django_db
def test_deleting_a_row_nothing_uses_still_works(admin_client):
    _, unused = _protected_rows()  # an SLA policy without timers
    response = admin_client.delete(f"/api/v1/handover/sla-policies/{unused.pk}/")
    assert response.status_code == 204
    assert not SlaPolicy.objects.filter(pk=unused.pk).exists()


# --- responses match the schema they are documented with ----------------------------------------


@pytest.fixture
def schema_call(db, keep_the_test_connection):
    """Call one operation of /api/schema/ as an admin and validate the answer against it."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application
    from django.test import Client, override_settings

    with override_settings(LEADFLOW_API_DOCS_PUBLIC=True):
        schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    user = UserFactory(username="schema-admin", role=Role.ADMIN)
    client = Client()
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value}

    def call(method, path, **path_parameters):
        operation = schema[path][method]
        response = operation.Case(path_parameters=path_parameters).call(cookies=cookies)
        assert response.status_code == 200, response.text
        operation.validate_response(response)  # raises naming the mismatch
        return response.json(), user

    return call


@pytest.mark.django_db
def test_the_inbox_answers_with_the_page_its_schema_documents(schema_call):
    lead = LeadFactory(stage="mql")
    _, admin = schema_call("GET", "/api/v1/handovers/inbox/")
    Handover.objects.create(lead=lead, owner=admin, opened_at=timezone.now())
    page, _ = schema_call("GET", "/api/v1/handovers/inbox/")
    assert [item["lead"] for item in page["results"]] == [lead.pk]
    assert page["results"][0]["assigned_at"] is None


@pytest.mark.django_db
def test_a_stored_non_ascii_e_mail_is_returned_as_the_schema_documents(schema_call):
    lead = LeadFactory(email="jürgen.müller@example.de")  # as Segment and imports store it
    body, _ = schema_call("GET", "/api/v1/leads/{id}/", id=lead.pk)
    assert body["email"] == "jürgen.müller@example.de"


@pytest.mark.django_db
def test_the_api_still_checks_e_mails_it_is_sent(admin_client):
    bad = admin_client.post("/api/v1/leads/", {"email": "not an address"}, format="json")
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["email"]
    good = admin_client.post("/api/v1/leads/", {"email": "Ann@Example.com"}, format="json")
    assert good.status_code == 201, good.content
    assert good.json()["email"] == "ann@example.com"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/leads/", "owner"),
        ("/api/v1/leads/", "score_min"),
        ("/api/v1/leads/{lead}/history/", "owner"),
        ("/api/v1/handovers/", "lead"),
    ],
)
@pytest.mark.parametrize("value", ["-7.113658164356723e+127", "99999999999999999999", "1.5"])
def test_an_integer_filter_past_64_bits_or_with_a_fraction_is_a_400_naming_it(
    admin_client, path, param, value
):
    """Schemathesis found ``owner=-7.1e+127`` a 500 on SQLite (OverflowError binding it)."""
    lead = LeadFactory()
    response = admin_client.get(path.format(lead=lead.pk), {param: value})
    assert response.status_code == 400, response.content
    assert param in response.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["true", "[1, 2]", "7", '"plan"'])
def test_traits_that_are_json_but_not_an_object_are_a_400_naming_traits(admin_client, text):
    """Schemathesis found ``traits=true`` (form-encoded) a 500: traits merge key by key."""
    lead = LeadFactory(traits={"plan": "pro"})
    response = admin_client.patch(f"/api/v1/leads/{lead.pk}/", f"traits={text}", content_type=FORM)
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["traits"]
    lead.refresh_from_db()
    assert lead.traits == {"plan": "pro"}
