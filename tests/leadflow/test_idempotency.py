"""Idempotency-Key with Stripe's semantics, on lead upserts, lifecycle moves and events."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from rest_framework.test import APIClient

from leadflow.api.idempotency import idempotency_purge
from leadflow.models import IdempotencyRecord
from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageChange
from tests.leads.factories import LeadFactory


def keyed(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def post(client, path, body, key):
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


@pytest.fixture
def writer(make_api_key):
    secret, _ = make_api_key("leads:read", "leads:write", "events:write")
    return keyed(secret)


@pytest.mark.django_db
def test_thousand_keys_sent_twice_make_a_thousand_resources_and_identical_replays(writer):
    """Events without a message id: only the Idempotency-Key stops the retry storing twice."""
    lead = LeadFactory()
    bodies = [{"lead": lead.pk, "kind": "page_view", "name": f"/p/{n}"} for n in range(1000)]
    firsts = [post(writer, "/api/v1/events/", body, f"k-{n}") for n, body in enumerate(bodies)]
    seconds = [post(writer, "/api/v1/events/", body, f"k-{n}") for n, body in enumerate(bodies)]
    assert Activity.objects.filter(lead=lead).count() == 1000
    assert {r.status_code for r in firsts} == {201}
    assert all(a.content == b.content for a, b in zip(firsts, seconds, strict=True))
    assert {b.status_code for b in seconds} == {201}
    assert all(b["Idempotent-Replayed"] == "true" for b in seconds)
    assert not any(a.has_header("Idempotent-Replayed") for a in firsts)
    assert len({a.json()["id"] for a in firsts}) == 1000


@pytest.mark.django_db
def test_lead_upsert_with_a_key_is_replayed_not_upserted_again(writer):
    body = {"email": "idem@example.test", "first_name": "N"}
    first = post(writer, "/api/v1/leads/", body, "lead-1")
    again = post(writer, "/api/v1/leads/", body, "lead-1")
    plain = writer.post("/api/v1/leads/", body, format="json")  # no key: an upsert
    assert (first.status_code, again.status_code, plain.status_code) == (201, 201, 200)
    assert again.content == first.content
    assert Lead.objects.filter(email="idem@example.test").count() == 1


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_422(writer):
    assert post(writer, "/api/v1/leads/", {"email": "a@x.example"}, "same").status_code == 201
    response = post(writer, "/api/v1/leads/", {"email": "b@x.example"}, "same")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert not Lead.objects.filter(email="b@x.example").exists()


@pytest.mark.django_db
def test_keys_are_scoped_per_api_key(make_api_key):
    one, _ = make_api_key("leads:write", "leads:read")
    two, _ = make_api_key("leads:write", "leads:read")
    first = post(keyed(one), "/api/v1/leads/", {"email": "s@x.example"}, "shared")
    other = post(
        keyed(two), "/api/v1/leads/", {"email": "s@x.example", "first_name": "B"}, "shared"
    )
    assert (first.status_code, other.status_code) == (201, 200)  # the second upserted
    assert not other.has_header("Idempotent-Replayed")


@pytest.mark.django_db
def test_a_transition_is_replayed_not_repeated_and_errors_are_stored_too(writer):
    lead = LeadFactory(stage=Stage.SUSPECT)
    first = post(writer, f"/api/v1/leads/{lead.pk}/qualify/", {}, "q-1")
    again = post(writer, f"/api/v1/leads/{lead.pk}/qualify/", {}, "q-1")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert StageChange.objects.filter(lead=lead, to_stage=Stage.LEAD).count() == 1
    refused = post(writer, f"/api/v1/leads/{lead.pk}/convert/", {}, "c-1")
    assert refused.status_code == 409
    replayed = post(writer, f"/api/v1/leads/{lead.pk}/convert/", {}, "c-1")
    assert (replayed.status_code, replayed.content) == (409, refused.content)


@pytest.mark.django_db
def test_events_honour_the_key_even_without_a_message_id(writer):
    lead = LeadFactory()
    body = {"lead": lead.pk, "kind": "webinar", "name": "Q3 launch"}
    first = post(writer, "/api/v1/events/", body, "e-1")
    again = post(writer, "/api/v1/events/", body, "e-1")
    assert first.status_code == 201
    assert again.content == first.content
    assert Activity.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_bad_keys_and_gets_without_keys(writer):
    too_long = post(writer, "/api/v1/leads/", {"email": "l@x.example"}, "k" * 256)
    assert too_long.status_code == 400
    assert "Idempotency-Key" in too_long.json()["error"]["fields"]
    assert writer.get("/api/v1/leads/", HTTP_IDEMPOTENCY_KEY="whatever").status_code == 200


@pytest.mark.django_db
def test_records_are_kept_24_hours_then_purged(writer):
    post(writer, "/api/v1/leads/", {"email": "p@x.example"}, "old")
    post(writer, "/api/v1/leads/", {"email": "q@x.example"}, "new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_purge() == 1
    assert set(IdempotencyRecord.objects.values_list("key", flat=True)) == {"new"}
    assert idempotency_purge(now=timezone.now() + timedelta(hours=23)) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_requests_with_one_key_make_one_resource(live_server, make_api_key):
    secret, _ = make_api_key("leads:write", "leads:read")
    key = str(uuid.uuid4())
    body = json.dumps({"email": "race@x.example", "first_name": "Race"})
    headers = {
        "Authorization": f"Bearer {secret}",
        "Idempotency-Key": key,
        "Content-Type": "application/json",
    }

    def send(_):
        return requests.post(
            f"{live_server.url}/api/v1/leads/", data=body, headers=headers, timeout=30
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send, range(50)))
    codes = [r.status_code for r in responses]
    assert all(c < 500 for c in codes), codes
    assert set(codes) <= {201, 409}
    assert codes.count(201) >= 1
    created = [r for r in responses if r.status_code == 201]
    assert len({r.content for r in created}) == 1  # the first, and identical replays
    assert sum(not r.headers.get("Idempotent-Replayed") for r in created) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_key_in_use"
    assert Lead.objects.filter(email="race@x.example").count() == 1
