"""Each web process keeps a live form for a few seconds: a submission costs no form query, and
a marketer's change reaches visitors within that delay."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture import selectors
from capture.models import Form
from tests.capture.factories import make_form, solved_challenge

pytestmark = pytest.mark.django_db


@pytest.fixture
def form_cache(settings, monkeypatch):
    settings.LEADFLOW_CAPTURE_FORM_CACHE_SECONDS = 5
    monkeypatch.setattr(selectors, "_LIVE", {})
    clock = [1000.0]
    monkeypatch.setattr(selectors.time, "monotonic", lambda: clock[0])
    return clock


def test_a_kept_form_costs_no_query_and_a_change_shows_after_the_delay(
    visitor, form_cache, monkeypatch
):
    monkeypatch.setattr("capture.submit._enqueue", lambda submission_id: None)
    form = make_form()
    visitor.submit(form, {"email": "a@example.com", **solved_challenge(form)})
    with CaptureQueriesContext(connection) as queries:
        reply = visitor.submit(form, {"email": "b@example.com", **solved_challenge(form)})
    assert reply.status_code == 200
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert reads == []  # the form, its fields and consents came from the process's copy
    Form.objects.filter(pk=form.pk).update(status=Form.Status.DRAFT)
    form_cache[0] += 4  # still kept: the draft form is still served
    assert (
        visitor.submit(form, {"email": "c@example.com", **solved_challenge(form)}).status_code
        == 200
    )
    form_cache[0] += 2  # past 5 s: the change is seen
    assert (
        visitor.submit(form, {"email": "d@example.com", **solved_challenge(form)}).status_code
        == 404
    )
