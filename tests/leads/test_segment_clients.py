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


CAMPAIGN = {"source": "google", "medium": "cpc", "name": "spring", "term": "crm", "content": "a1"}


def run_every_call(client_cls, *, url, key, tag):
    """Every call type of the spec, as an app would make them: an anonymous visit from a
    campaign, sign-up (identify), the company (group), a mobile screen, and an alias from the
    user's old id, whose lead already exists, to the new one."""
    failures = []
    client = client_cls(
        write_key=key,
        host=url,
        upload_size=3,
        max_retries=0,
        on_error=lambda error, batch: failures.append((error, batch)),
    )
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    user, old, anon = f"{tag}-user", f"{tag}-old", f"{tag}-anon"
    context = {"campaign": CAMPAIGN, "ip": "198.51.100.23", "locale": "en-GB"}
    client.track(user_id=old, event="Trial Started", timestamp=when, message_id=f"{tag}-0")
    client.page(
        anonymous_id=anon, name="Pricing", context=context, timestamp=when, message_id=f"{tag}-1"
    )
    client.identify(
        user_id=user,
        anonymous_id=anon,
        traits={"email": f"{tag}@example.test", "firstName": "Ann"},
        timestamp=when + timedelta(minutes=1),
        message_id=f"{tag}-2",
    )
    client.group(
        user_id=user,
        group_id=f"{tag}-acct",
        traits={"name": "Acme Industries", "employees": 120},
        timestamp=when + timedelta(minutes=2),
        message_id=f"{tag}-3",
    )
    client.screen(
        user_id=user,
        name="Dashboard",
        properties={"tab": "leads"},
        timestamp=when + timedelta(minutes=3),
        message_id=f"{tag}-4",
    )
    client.alias(
        previous_id=old, user_id=user, timestamp=when + timedelta(minutes=4), message_id=f"{tag}-5"
    )
    # e-mail known from the user's traits: no anonymous Suspect for a new device
    client.track(
        anonymous_id=f"{tag}-device-2",
        event="Form Submitted",
        context={"traits": {"email": f"{tag}@example.test"}},
        timestamp=when + timedelta(minutes=5),
        message_id=f"{tag}-6",
    )
    client.flush()
    client.join()
    return failures


@pytest.mark.parametrize("name", sorted(CLIENTS))
def test_real_client_every_call_type_lands(live_server, make_api_key, transactional_db, name):
    secret, _ = make_api_key("events:write")
    tag = f"all-{name}-{uuid.uuid4().hex[:6]}"
    assert run_every_call(CLIENTS[name], url=live_server.url, key=secret, tag=tag) == []
    lead = Lead.objects.get(external_id=f"{tag}-user")
    # identify, group -> company, campaign -> first-touch UTMs
    assert (lead.email, lead.first_name, lead.company) == (
        f"{tag}@example.test",
        "Ann",
        "Acme Industries",
    )
    assert lead.traits["company"] == {
        "id": f"{tag}-acct",
        "name": "Acme Industries",
        "employees": 120,
    }
    utm = (lead.utm_source, lead.utm_medium, lead.utm_campaign, lead.utm_term, lead.utm_content)
    assert utm == ("google", "cpc", "spring", "crm", "a1")
    # alias: the old id's lead is merged in, one lead is left for the person
    assert Lead.objects.filter(external_id=f"{tag}-old").count() == 0
    assert Lead.objects.count() == 1
    kinds = sorted(lead.activities.exclude(source="privacy").values_list("kind", flat=True))
    assert kinds == sorted(
        [
            ActivityKind.TRIAL,
            ActivityKind.PAGE_VIEW,
            ActivityKind.SCREEN_VIEW,
            ActivityKind.FORM_SUBMIT,
        ]
    )
    page = lead.activities.get(kind=ActivityKind.PAGE_VIEW)
    assert page.properties["utm"]["campaign"] == "spring"
    assert page.properties["context"]["ip"] == "198.51.100.0"
    assert page.properties["context"]["locale"] == "en-GB"
    assert set(
        Identity.objects.filter(value__in=[f"{tag}-old", f"{tag}-device-2"]).values_list(
            "lead", flat=True
        )
    ) == {lead.pk}

    # the same calls again (a client retrying after a lost reply): nothing applied twice
    assert run_every_call(CLIENTS[name], url=live_server.url, key=secret, tag=tag) == []
    assert Lead.objects.count() == 1
    assert Activity.objects.filter(message_id__startswith=f"{tag}-").count() == 4
