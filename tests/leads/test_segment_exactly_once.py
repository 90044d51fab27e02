"""Exactly-once ingestion: parallel first messages, identify by messageId and event time, and
the plausibility window for event times."""

import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from leads.models import Activity, IdentifyReceipt, Identity, Lead
from tests.leads.test_segment import at, msg, post

SENDERS, USERS, BATCH = 8, 60, 30


def _sender_batches(sender, run):
    """One sender's messages: a first message for every new person, in its own order.

    Three kinds of new identity, all shared by the 8 senders: a userId (track), an
    anonymousId (page) and an e-mail (identify carrying a per-sender anonymousId)."""
    rng = random.Random(sender)
    messages = []
    for n in range(USERS):
        messages.append(msg("track", userId=f"{run}-u{n}", anonymousId=None))
        messages.append(msg("page", anonymousId=f"{run}-a{n}"))
        messages.append(
            msg(
                "identify",
                anonymousId=f"{run}-d{n}-{sender}",
                traits={"email": f"{run}-p{n}@stress.example"},
            )
        )
    for m in messages:
        if m["anonymousId"] is None:
            del m["anonymousId"]
    rng.shuffle(messages)
    return [messages[i : i + BATCH] for i in range(0, len(messages), BATCH)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_senders_of_new_people_store_every_message_once(live_server, make_api_key):
    """8 senders post first messages for the same new people at once: every message is
    stored (no item error in a 200), each identity is one lead, and a full re-send stores 0."""
    import requests

    secret, _ = make_api_key("events:write")
    run = uuid.uuid4().hex[:6]
    bodies = [
        json.dumps({"batch": batch}) for s in range(SENDERS) for batch in _sender_batches(s, run)
    ]
    sent = SENDERS * USERS * 3

    def send_all(chunk):
        with requests.Session() as session:
            return [
                session.post(
                    f"{live_server.url}/v1/batch",
                    data=body,
                    auth=(secret, ""),
                    headers={"Content-Type": "application/json"},
                    timeout=120,
                )
                for body in chunk
            ]

    def round_trip():
        per_sender = [bodies[s::SENDERS] for s in range(SENDERS)]  # interleave the senders
        with ThreadPoolExecutor(max_workers=SENDERS) as pool:
            replies = [r for rs in pool.map(send_all, per_sender) for r in rs]
        assert [r.status_code for r in replies] == [200] * len(replies)
        return [r.json() for r in replies]

    first = round_trip()
    errors = [e for reply in first for e in reply.get("errors", [])]
    assert errors == []
    stored = sum(r["stored"] + r["identified"] for r in first)
    assert stored == sent
    assert Activity.objects.count() == sent * 2 // 3
    assert IdentifyReceipt.objects.count() == sent // 3
    assert Lead.objects.filter(external_id__startswith=f"{run}-u").count() == USERS
    assert Lead.objects.filter(email__startswith=f"{run}-p").count() == USERS
    anon = Identity.objects.filter(kind="anonymous_id", value__startswith=f"{run}-a")
    assert anon.count() == USERS
    assert len(set(anon.values_list("lead_id", flat=True))) == USERS
    # every sender's device of one e-mail is bound to that e-mail's one lead
    devices = Identity.objects.filter(kind="anonymous_id", value__startswith=f"{run}-d0-")
    assert set(devices.values_list("lead__email", flat=True)) == {f"{run}-p0@stress.example"}
    assert Lead.objects.count() == 3 * USERS

    again = round_trip()
    assert sum(r["stored"] + r["identified"] for r in again) == 0
    assert sum(r["duplicates"] for r in again) == sent
    assert Activity.objects.count() == sent * 2 // 3
    assert Lead.objects.count() == 3 * USERS


def identify(mid, minutes, **traits):
    return msg("identify", userId="id-1", messageId=mid, timestamp=at(minutes), traits=traits)


@pytest.mark.django_db
def test_an_old_identify_resent_after_a_newer_one_changes_nothing(writer):
    old = identify("id-old", 1, title="Intern", plan="free", email="ann@id.example")
    new = identify("id-new", 5, title="CTO", plan="pro")
    assert post("/v1/identify", old, writer).status_code == 200
    assert post("/v1/identify", new, writer).status_code == 200
    again = post("/v1/batch", {"batch": [old]}, writer).json()
    assert (again["identified"], again["duplicates"]) == (0, 1)
    lead = Lead.objects.get(external_id="id-1")
    assert (lead.job_title, lead.traits["plan"], lead.email) == ("CTO", "pro", "ann@id.example")
    assert IdentifyReceipt.objects.filter(lead=lead).count() == 2


@pytest.mark.django_db
def test_identify_traits_apply_by_event_time_per_field(writer):
    post("/v1/identify", identify("t-2", 5, title="CTO", plan="pro"), writer)
    # older, with another messageId: its fields that were set later stay; new ones apply
    late = identify("t-1", 1, title="Intern", plan="free", industry="Retail", seats=3)
    assert post("/v1/identify", late, writer).json()["success"]
    lead = Lead.objects.get(external_id="id-1")
    assert (lead.job_title, lead.industry) == ("CTO", "Retail")
    assert (lead.traits["plan"], lead.traits["seats"]) == ("pro", 3)
    post("/v1/identify", identify("t-3", 9, title="CEO"), writer)  # newer: applies
    lead.refresh_from_db()
    assert (lead.job_title, lead.traits["plan"]) == ("CEO", "pro")


@pytest.mark.django_db
@pytest.mark.parametrize("newest_first", [True, False])
def test_within_a_batch_the_newer_identify_wins_whatever_the_order(writer, newest_first):
    batch = [
        identify(f"b-{newest_first}-1", 1, title="Intern"),
        identify(f"b-{newest_first}-2", 2, title="CTO"),
    ]
    if newest_first:
        batch.reverse()
    body = post("/v1/batch", {"batch": batch}, writer).json()
    assert body["identified"] == 2
    assert Lead.objects.get(external_id="id-1").job_title == "CTO"


@pytest.mark.django_db
def test_event_times_outside_the_plausibility_window_are_item_errors(writer, settings):
    settings.LEADFLOW_EVENT_MAX_AGE_DAYS = 30
    settings.LEADFLOW_EVENT_MAX_FUTURE_SECONDS = 60
    now = datetime.now(UTC)
    batch = [
        msg("track", userId="w-1", timestamp="0001-01-02T00:00:00+00:00"),
        msg("track", userId="w-1", timestamp="2030-01-01T00:00:00+00:00"),
        msg("track", userId="w-1", timestamp=(now - timedelta(days=31)).isoformat()),
        msg("track", userId="w-1", originalTimestamp=(now + timedelta(minutes=5)).isoformat()),
        msg("identify", userId="w-1", timestamp="2030-01-01T00:00:00Z", traits={"title": "X"}),
        msg("track", userId="w-1", timestamp=(now - timedelta(days=29)).isoformat()),
        msg("track", userId="w-1", timestamp=(now + timedelta(seconds=30)).isoformat()),
        # far off, but the sender's clock is off as much: corrected into the window
        msg("track", userId="w-1", timestamp="2030-01-01T00:00:00Z", sentAt="2030-01-01T00:00:09Z"),
    ]
    response = post("/v1/batch", {"batch": batch}, writer)
    assert response.status_code == 200
    body = response.json()
    assert (body["stored"], body["identified"]) == (3, 0)
    errors = {e["index"]: (e["code"], e["field"]) for e in body["errors"]}
    assert errors == {
        0: ("implausible_time", "timestamp"),
        1: ("implausible_time", "timestamp"),
        2: ("implausible_time", "timestamp"),
        3: ("implausible_time", "originalTimestamp"),
        4: ("implausible_time", "timestamp"),
    }
    reasons = [e["message"] for e in body["errors"]]
    assert "30 days in the past" in reasons[0]
    assert "60 seconds in the future" in reasons[1]
    assert not Activity.objects.filter(occurred_at__year__in=[1, 2030]).exists()
    assert Lead.objects.get(external_id="w-1").job_title == ""  # nothing half-written
    single = post("/v1/track", msg("track", userId="w-1", timestamp="0001-01-02T00:00:00Z"), writer)
    assert single.status_code == 400
    assert single.json()["error"]["field"] == "timestamp"


@pytest.mark.django_db
def test_the_events_api_has_the_same_window(make_api_key, settings):
    from rest_framework.test import APIClient

    settings.LEADFLOW_EVENT_MAX_AGE_DAYS = 30
    secret, _ = make_api_key("events:write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    event = {"email": "w@win.example", "kind": "custom", "occurred_at": "2000-01-01T00:00:00Z"}
    response = client.post("/api/v1/events/", event, format="json")
    assert response.status_code == 400, response.content
    assert "occurred_at" in response.content.decode()
    assert Activity.objects.count() == 0
