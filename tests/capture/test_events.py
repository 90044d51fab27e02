"""POST /f/<id>/event: views and starts the embeds report, counted per form and site day."""

import json
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.embed_services import EventKind, form_day_count
from capture.models import FormDay
from tests.capture.embed_helpers import HOST, make_form

pytestmark = pytest.mark.django_db


def send(client, form, body, origin=HOST, content_type="text/plain"):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        f"/f/{form.public_id}/event", data=data, content_type=content_type, HTTP_ORIGIN=origin
    )


def test_two_views_and_a_start_make_one_row_for_the_day(client):
    form = make_form()
    for kind in ("view", "view", "start"):
        response = send(client, form, {"kind": kind})
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == HOST
    (day,) = FormDay.objects.filter(form=form)
    assert (day.views, day.starts) == (2, 1)


def test_json_content_type_counts_too(client):
    form = make_form()
    assert send(client, form, {"kind": "view"}, content_type="application/json").status_code == 204
    assert FormDay.objects.get(form=form).views == 1


def test_one_statement_per_event(client):
    form = make_form()
    form_day_count(form_id=form.pk, kind=EventKind.VIEW)
    with CaptureQueriesContext(connection) as queries:
        form_day_count(form_id=form.pk, kind=EventKind.START)
    assert len(queries) == 1
    assert FormDay.objects.get(form=form).starts == 1


def test_the_day_is_the_sites_day(settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in December
    form = make_form()
    at = datetime(2026, 12, 5, 12, 30, tzinfo=ZoneInfo("UTC"))  # 6 Dec 01:30 in Auckland
    form_day_count(form_id=form.pk, kind=EventKind.VIEW, at=at)
    assert FormDay.objects.get(form=form).day.isoformat() == "2026-12-06"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "click"}, "kind"),
        ({}, "kind"),
        ({"kind": ["view"]}, "kind"),
        ("not json", "body"),
        ("[1, 2]", "body"),
        ("", "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, body, field):
    form = make_form()
    response = send(client, form, body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not FormDay.objects.exists()


def test_an_oversized_body_is_413(client):
    form = make_form()
    response = send(client, form, json.dumps({"kind": "view", "x": "a" * 2000}))
    assert response.status_code == 413
    assert not FormDay.objects.exists()


def test_a_refused_origin_counts_nothing(client):
    form = make_form()
    response = send(client, form, {"kind": "view"}, origin="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert not FormDay.objects.exists()


def test_a_draft_form_is_404(client):
    form = make_form(status="draft")
    assert send(client, form, {"kind": "view"}).status_code == 404
    assert not FormDay.objects.exists()


def test_rate_limited_per_ip(client, settings):
    settings.LEADFLOW_CAPTURE_EVENT_RATE_LIMIT = 3
    settings.LEADFLOW_RATE_LIMIT_PREFIX += f":{uuid.uuid4().hex}"  # counters of this test only
    form = make_form()
    codes = [send(client, form, {"kind": "view"}).status_code for _ in range(5)]
    assert codes == [204, 204, 204, 429, 429]
    response = send(client, form, {"kind": "view"})
    assert int(response["Retry-After"]) >= 1
    assert response.json()["code"] == "rate_limited"
    assert FormDay.objects.get(form=form).views == 3


def test_a_get_is_refused(client):
    form = make_form()
    assert client.get(f"/f/{form.public_id}/event").status_code == 405


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_views_all_count():
    """Many browsers reporting the day's first view at once: one row, no count lost, no
    unique-key error (the INSERT … ON CONFLICT is atomic)."""
    import threading

    from django.db import connections

    form = make_form()
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def report() -> None:
        try:
            connections["default"].ensure_connection()  # connected first: the calls collide
            barrier.wait()
            for _ in range(5):
                form_day_count(form_id=form.pk, kind=EventKind.VIEW)
        except BaseException as e:  # noqa: BLE001 (collected and asserted below)
            failures.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert FormDay.objects.get(form=form).views == 40
