"""The real segment-analytics-python and rudder-sdk-python clients against a live test server."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from leads.models import Activity, ActivityKind, Identity, Lead

CLIENTS = {"segment": SegmentClient, "rudder": RudderClient}


def run_session(client_cls, *, url, key, gzip, tag, upload_size=4):
    """Identify + track + page for 3 people, one of them anonymous first; batches of 4."""
    failures = []
    client = client_cls(
        write_key=key,
        host=url,
        gzip=gzip,
        upload_size=upload_size,
        max_retries=0,
        on_error=lambda error, batch: failures.append((error, batch)),
    )
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    for n in range(3):
        user, anon = f"{tag}-user-{n}", f"{tag}-anon-{n}"
        ids = [f"{tag}-{n}-{i}" for i in range(5)]
        client.page(
            anonymous_id=anon,
            name="Pricing",
            properties={"url": "https://x/p"},
            message_id=ids[0],
            timestamp=when,
        )
        client.track(
            anonymous_id=anon,
            event="File Downloaded",
            properties={"file": "a.pdf"},
            message_id=ids[1],
            timestamp=when + timedelta(minutes=1),
        )
        client.identify(
            user_id=user,
            anonymous_id=anon,
            message_id=ids[2],
            timestamp=when,
            traits={"email": f"{user}@example.test", "firstName": f"P{n}", "plan": "pro"},
        )
        client.track(
            user_id=user,
            event="Form Submitted",
            properties={"form": "demo"},
            message_id=ids[3],
            timestamp=when + timedelta(minutes=2),
        )
        client.page(user_id=user, name="Docs", message_id=ids[4], timestamp=when)
    client.flush()
    client.join()
    return failures


@pytest.mark.parametrize("name", sorted(CLIENTS))
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_real_client_batches_become_leads_and_activities_exactly_once(
    live_server, make_api_key, transactional_db, name, gzip
):
    secret, _ = make_api_key("events:write")
    tag = f"{name}{int(gzip)}{uuid.uuid4().hex[:4]}"
    failures = run_session(CLIENTS[name], url=live_server.url, key=secret, gzip=gzip, tag=tag)
    assert failures == []
    leads = Lead.objects.filter(external_id__startswith=f"{tag}-user-").order_by("external_id")
    assert [(x.external_id, x.email, x.first_name, x.traits.get("plan")) for x in leads] == [
        (f"{tag}-user-{n}", f"{tag}-user-{n}@example.test", f"P{n}", "pro") for n in range(3)
    ]
    for lead in leads:
        kinds = sorted(lead.activities.values_list("kind", flat=True))
        assert kinds == sorted(
            [
                ActivityKind.PAGE_VIEW,
                ActivityKind.DOWNLOAD,
                ActivityKind.FORM_SUBMIT,
                ActivityKind.PAGE_VIEW,
            ]
        )
        # the anonymous visitor's history was merged: no anonymous lead is left behind
        assert Identity.objects.filter(lead=lead, kind="anonymous_id").count() == 1
    assert Lead.objects.filter(email__isnull=True, external_id__isnull=True).count() == 0
    stored = Activity.objects.filter(message_id__startswith=f"{tag}-").count()
    assert stored == 12

    # the same messages again (a client retrying after a lost reply): nothing twice
    failures = run_session(CLIENTS[name], url=live_server.url, key=secret, gzip=gzip, tag=tag)
    assert failures == []
    assert Activity.objects.filter(message_id__startswith=f"{tag}-").count() == 12
    assert Lead.objects.filter(external_id__startswith=f"{tag}-").count() == 3


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_real_client_with_a_revoked_key_reports_the_failure(live_server, make_api_key, name):
    from leadflow.apikeys import api_key_revoke

    secret, key = make_api_key("events:write")
    api_key_revoke(key_id=key.pk)
    failures = run_session(CLIENTS[name], url=live_server.url, key=secret, gzip=False, tag="rev")
    assert failures
    assert all(getattr(error, "status", None) == 401 for error, _batch in failures)
    assert Activity.objects.count() == 0


def test_real_segment_client_with_a_public_key_signs_to_change_a_known_lead(
    live_server, make_api_key, transactional_db
):
    """A website's public key through the official client: a new person is created with
    their traits; a known one changes only when the identify carries ``context.userHash``."""
    import hashlib
    import hmac

    from tests.leads.factories import LeadFactory

    secret, key = make_api_key("events:write", kind="public")
    known = LeadFactory(external_id="u-known", first_name="Vera", company="Victim GmbH")
    failures = []
    client = SegmentClient(
        write_key=secret,
        host=live_server.url,
        max_retries=0,
        on_error=lambda error, batch: failures.append((error, batch)),
    )
    client.identify(user_id="u-fresh", traits={"email": "f@x.example", "company": "Fresh"})
    client.identify(user_id="u-known", traits={"firstName": "Mallory", "company": "Evil"})
    client.flush()
    known.refresh_from_db()
    assert (known.first_name, known.company) == ("Vera", "Victim GmbH")
    assert Lead.objects.get(external_id="u-fresh").company == "Fresh"

    user_hash = hmac.new(key.identity_secret.encode(), b"u-known", hashlib.sha256).hexdigest()
    client.identify(
        user_id="u-known",
        traits={"firstName": "Vera", "company": "Acme"},
        context={"userHash": user_hash},
    )
    client.flush()
    client.join()
    assert failures == []
    known.refresh_from_db()
    assert (known.first_name, known.company) == ("Vera", "Acme")
