"""GDPR: access (export) and erasure — after erasure no table holds the person; reports unchanged."""

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from handover.models import (
    Delivery,
    DeliveryAttempt,
    Handover,
    Notification,
    QualificationChecklist,
    WebhookEvent,
    WebhookSubscription,
)
from leadflow import deadletter
from leadflow.models import AuditEvent
from leads.customfield_services import field_create
from leads.lifecycle import Stage
from leads.models import Activity, ActivityKind, Identity, Lead, Note, StageChange, Task
from leads.services import activity_record, lead_create, lead_mark_mql, lead_qualify
from privacy.blocklist import BlockedIdentifierError
from privacy.gdpr import lead_erase, lead_export, retention_purge
from privacy.merge import lead_merge
from privacy.models import BlockedIdentifier, ConsentEvent, ImportRowError
from privacy.services import consent_record
from tests.handover.factories import framework, policy, rule
from tests.leads.factories import ActivityFactory, LeadFactory

EMAIL = "zebulon.quatermaine@quatermaine-holdings.example"
NEEDLES = (
    "zebulon",
    "quatermaine",
    "+44 20 7946 0958",
    "+442079460958",
    "crm-zq-881",
    "anon-zq-31337",
)


def _person(rep, team_setup=True):
    """One person known everywhere: lead, identity, activities, handover, outbox, webhooks, ..."""
    rule("rr", members=[rep])
    policy(stage="mql", target=480, warn=60)
    WebhookSubscription.objects.create(url="https://hooks.example/lf", event_types=["lead.mql"])
    field_create(data={"key": "profile", "label": "Profile", "type": "url"}, actor=None)
    lead = lead_create(
        data={
            "email": EMAIL.upper(),
            "external_id": "crm-zq-881",
            "first_name": "Zebulon",
            "last_name": "Quatermaine",
            "phone": "+44 20 7946 0958",
            "company": "Quatermaine Holdings",
            "job_title": "Head of Zebulon Things",
            "source": "webinar",
            "country": "GB",
            "traits": {"nickname": "Zeb Quatermaine"},
            "custom": {"profile": "https://social.example/in/zebulon-q"},
        },
        source="api",
    )
    Identity.objects.create(lead=lead, kind="anonymous_id", value="anon-zq-31337")
    ActivityFactory(lead=lead, properties={"email": EMAIL, "form": {"name": "Zebulon Q."}})
    ActivityFactory(
        lead=lead,
        kind=ActivityKind.FORM_SUBMIT,
        name="Demo request by Zebulon",
        message_id="form-zebulon.quatermaine-1",
        properties={"phone": "+44 20 7946 0958"},
    )
    lead_qualify(lead_id=lead.pk, actor=None, source="scoring", reason="fit")
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring", reason="score 80")
    handover = Handover.objects.get(lead=lead)
    Handover.objects.filter(pk=handover.pk).update(comment="Zebulon wants a call on Monday")
    QualificationChecklist.objects.create(
        lead=lead, framework=framework(), answers={"need": {"met": True, "note": "Quatermaine"}}
    )
    Notification.objects.filter(lead=lead).update(body=f"Contact {EMAIL}")
    delivery = Delivery.objects.filter(channel="webhook").first()
    assert delivery is not None  # the lead.mql event reached the outbox
    DeliveryAttempt.objects.create(
        delivery=delivery, number=1, started_at=timezone.now(), ok=False, status_code=400,
        error="HTTP 400", response_excerpt=f'{{"echo": "{EMAIL}", "name": "Zebulon"}}',
    )  # fmt: skip
    consent_record(lead_id=lead.pk, channel="phone", granted=True, source="call with Zebulon")
    Note.objects.create(lead=lead, author=rep, body=f"Zebulon: {EMAIL}", created_at=timezone.now())
    Task.objects.create(
        lead=lead, created_by=rep, title="Call Zebulon Quatermaine", created_at=timezone.now()
    )
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(Lead), object_id=str(lead.pk),
        object_repr=str(lead), action_flag=CHANGE, change_message="Zebulon edited",
        user_id=rep.pk,
    )  # fmt: skip
    ImportRowError.objects.create(
        job=_job(), row=3, column="E-Mail", value=EMAIL, message="duplicate in file"
    )
    return Lead.objects.get(pk=lead.pk)


def _job():
    from privacy.models import ImportJob

    return ImportJob.objects.create(filename="x.csv")


def _every_table_text() -> list[tuple[str, str]]:
    """(table, row as text) for every row of every table in the database."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                found.append((table, json.dumps(row, default=str).lower()))
    return found


def _aggregates():
    return {
        "leads_by_stage_source": list(
            Lead.objects.values("stage", "source", "country")
            .annotate(n=Count("id"))
            .order_by("stage")
        ),
        "stage_changes": list(
            StageChange.objects.values("from_stage", "to_stage", "source")
            .annotate(n=Count("id"))
            .order_by("from_stage", "to_stage")
        ),
        "activities_by_kind": list(
            Activity.objects.values("kind").annotate(n=Count("id")).order_by("kind")
        ),
        "handovers": list(Handover.objects.values("status").annotate(n=Count("id"))),
    }


@pytest.mark.django_db
def test_export_holds_everything_and_is_audited(rep, admin_user):
    lead = _person(rep)
    data = lead_export(lead_id=lead.pk, actor=admin_user)
    assert data["lead"]["email"] == EMAIL
    assert data["identities"][0]["value"] == "anon-zq-31337"
    assert len(data["activities"]) == 2
    assert [c["to_stage"] for c in data["stage_history"]] == ["suspect", "lead", "mql"]
    assert data["handovers"][0]["comment"].startswith("Zebulon")
    assert data["notifications"]
    assert data["email_deliveries"]
    assert data["webhook_events"][0]["payload"]["data"]["lead"]["email"] == EMAIL
    assert data["consent"][0]["channel"] == "phone"
    assert "score" in data["scores"]
    assert data["custom_fields"] == [
        {"key": "profile", "label": "Profile", "value": "https://social.example/in/zebulon-q"}
    ]
    json.dumps(data)  # JSON all the way down
    audit = AuditEvent.objects.get(action="lead.export")
    assert (audit.actor, audit.target_id) == (admin_user, str(lead.pk))
    assert EMAIL not in json.dumps(audit.details)


@pytest.mark.django_db
def test_after_erasure_no_table_holds_the_person_and_reports_are_unchanged(rep, admin_user):
    lead = _person(rep)
    LeadFactory(source="webinar")  # somebody else, to be kept
    # a batch set the lead aside on an error quoting a key's value (leadflow/deadletter.py)
    error = ValueError(f"duplicate key value violates ...: Key (email)=({EMAIL}) already exists")
    deadletter.record("scoring.sweep", lead.pk, error)
    haystack = _every_table_text()
    for needle in NEEDLES:  # the search finds the person before erasure ...
        assert any(needle.lower() in text for _, text in haystack), needle
    before = _aggregates()
    lead_erase(lead_id=lead.pk, actor=admin_user, reason="Art. 17 request from Zebulon")
    for table, text in _every_table_text():  # ... and nowhere after
        for needle in NEEDLES:
            assert needle.lower() not in text, f"{needle!r} still in {table}: {text[:300]}"
    assert _aggregates() == before  # reports' totals unchanged
    lead.refresh_from_db()
    assert lead.erased_at is not None
    assert lead.stage == Stage.MQL
    assert lead.country == "GB"
    assert BlockedIdentifier.objects.count() == 3  # e-mail, external id, phone (hashed)
    assert Activity.objects.filter(lead=lead).count() == 2  # kept, without properties
    assert AuditEvent.objects.filter(action="lead.erase", target_id=str(lead.pk)).exists()
    assert not Identity.objects.filter(lead=lead).exists()
    assert lead_erase(lead_id=lead.pk, actor=admin_user).erased_at == lead.erased_at  # idempotent


@pytest.mark.django_db
def test_erased_person_cannot_come_back_by_import_or_api(rep, admin_user, run_import, marketer):
    lead = _person(rep)
    lead_erase(lead_id=lead.pk, actor=admin_user)
    job = run_import(
        f"E-Mail,First name\n{EMAIL.title()},Zebulon\nnew.person@example.com,Nadia\n".encode()
    )
    assert job.summary == {"rows": 2, "created": 1, "updated": 0, "skipped": 0, "failed": 1}
    error = ImportRowError.objects.get(job=job)
    assert (error.row, error.column, error.message) == (
        2, "E-Mail", "belongs to an erased person (blocklisted)",
    )  # fmt: skip
    with pytest.raises(BlockedIdentifierError):
        lead_create(data={"external_id": "crm-zq-881"})
    api = APIClient()
    api.force_authenticate(marketer)
    response = api.post("/api/v1/leads/", {"email": EMAIL, "first_name": "Z"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "blocked_identifier"
    assert not Lead.objects.filter(email=EMAIL).exists()
    edit = api.patch(f"/api/v1/leads/{lead.pk}/", {"first_name": "Zebulon"}, format="json")
    assert edit.status_code == 409  # the tombstone cannot be filled in again
    assert edit.json()["error"]["code"] == "lead_erased"


@pytest.mark.django_db
def test_erasure_via_api_needs_permission_and_confirmation(rep, admin_user, marketer):
    lead = LeadFactory()
    api = APIClient()
    api.force_authenticate(marketer)
    assert api.post(f"/api/v1/privacy/leads/{lead.pk}/erase/", {"confirm": True}).status_code == 403
    assert api.get(f"/api/v1/privacy/leads/{lead.pk}/export/").status_code == 403
    api.force_authenticate(admin_user)
    refused = api.post(f"/api/v1/privacy/leads/{lead.pk}/erase/", {"confirm": False})
    assert refused.status_code == 400
    assert "confirm" in refused.json()["error"]["fields"]
    export = api.get(f"/api/v1/privacy/leads/{lead.pk}/export/")
    assert export.status_code == 200
    assert export.json()["lead"]["email"] == lead.email
    done = api.post(f"/api/v1/privacy/leads/{lead.pk}/erase/", {"confirm": True})
    assert done.status_code == 200
    assert done.json()["email"] is None


@pytest.mark.django_db
def test_erasing_cancels_pending_webhooks_and_emails(rep, admin_user):
    lead = _person(rep)
    pending = Delivery.objects.filter(status="pending")
    Delivery.objects.update(status="pending")
    assert pending.exists()
    lead_erase(lead_id=lead.pk, actor=admin_user)
    assert not Delivery.objects.filter(status="pending").exists()
    assert WebhookEvent.objects.exists()  # the rows stay (de-identified) for the delivery log


@pytest.mark.django_db
def test_retention_purges_only_old_raw_activities(settings):
    lead = LeadFactory()
    old = ActivityFactory(lead=lead, occurred_at=timezone.now() - timedelta(days=400))
    new = ActivityFactory(lead=lead, occurred_at=timezone.now() - timedelta(days=10))
    settings.PRIVACY_ACTIVITY_RETENTION_DAYS = 0
    assert retention_purge() == 0  # 0 = keep forever
    settings.PRIVACY_ACTIVITY_RETENTION_DAYS = 365
    assert retention_purge() == 1
    assert list(Activity.objects.values_list("pk", flat=True)) == [new.pk]
    assert not Activity.objects.filter(pk=old.pk).exists()
    assert StageChange.objects.filter(lead=lead).exists()  # the stage log is never purged


@pytest.mark.django_db
def test_merged_then_erased_leaves_nothing(rep, admin_user):
    lead = _person(rep)
    twin = LeadFactory(email="zebulon.q+news@quatermaine-holdings.example", first_name="Zebulon")
    activity_record(lead_id=twin.pk, kind="page_view", occurred_at=timezone.now(),
                    properties={"who": "Zebulon Quatermaine"})  # fmt: skip
    lead_merge(survivor_id=lead.pk, duplicate_id=twin.pk, actor=admin_user)
    lead_erase(lead_id=lead.pk, actor=admin_user)
    for table, text in _every_table_text():
        for needle in (*NEEDLES, "zebulon.q+news"):
            assert needle.lower() not in text, f"{needle!r} still in {table}: {text[:300]}"
    assert ConsentEvent.objects.filter(lead=lead).exists()  # de-identified consent proof stays


@pytest.mark.django_db
def test_an_erased_persons_identifiers_cannot_come_back_on_an_existing_lead(
    rep, admin_user, marketer, make_api_key
):
    """Not only creates: an anonymous visitor's lead identified with the erased userId or
    e-mail, or an e-mail edited to the erased one, is refused and changes nothing."""
    from tests.leads.test_segment import msg, post

    lead_erase(lead_id=_person(rep).pk, actor=admin_user)
    secret, _ = make_api_key("events:write")
    visit = msg("page", anonymousId="anon-zq", name="Pricing")
    assert post("/v1/batch", {"batch": [visit]}, secret).json()["stored"] == 1
    visitor = Lead.objects.get(identities__value="anon-zq")
    batch = [
        msg("identify", anonymousId="anon-zq", userId="crm-zq-881"),
        msg("identify", anonymousId="anon-zq", traits={"email": EMAIL}),
    ]
    reply = post("/v1/batch", {"batch": batch}, secret).json()
    assert [e["code"] for e in reply["errors"]] == ["blocked_identifier"] * 2
    assert [e["field"] for e in reply["errors"]] == ["external_id", "email"]
    api = APIClient()
    api.force_authenticate(marketer)
    edit = api.patch(f"/api/v1/leads/{visitor.pk}/", {"email": EMAIL.upper()}, format="json")
    assert edit.status_code == 409
    assert edit.json()["error"]["code"] == "blocked_identifier"
    visitor.refresh_from_db()
    assert (visitor.email, visitor.external_id) == (None, None)
