"""Duplicates are found for review; a merge loses nothing of either lead."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from handover.models import Handover, Notification, QualificationChecklist, SlaTimer
from leadflow.models import AuditEvent
from leads.lifecycle import Stage
from leads.models import Activity, Identity, Lead, Note, StageChange, Task
from leads.services import lead_mark_mql, lead_qualify
from privacy.merge import (
    MergeError,
    canonical_email,
    duplicate_dismiss,
    duplicates_scan,
    lead_merge,
    name_similarity,
)
from privacy.models import ConsentEvent, DuplicatePair, MergeRecord
from privacy.services import consent_record
from reports.models import LeadMilestone
from tests.handover.factories import framework, policy, rule
from tests.leads.factories import ActivityFactory, LeadFactory


def _mql(**fields):
    lead = LeadFactory(**fields)
    lead_qualify(lead_id=lead.pk, actor=None, source="scoring", reason="fit")
    lead_mark_mql(lead_id=lead.pk, actor=None, source="scoring", reason="score")
    return Lead.objects.get(pk=lead.pk)


def _everything(lead_ids):
    """Every row that belongs to these leads, by table (ids)."""
    return {
        "activities": set(
            Activity.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)
        ),
        "stage_changes": set(
            StageChange.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)
        ),
        "identities": set(
            Identity.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)
        ),
        "consent": set(
            ConsentEvent.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)
        ),
        "handovers": set(
            Handover.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)
        ),
        "timers": set(SlaTimer.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)),
        "notifications": set(
            Notification.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)
        ),
        "notes": set(Note.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)),
        "tasks": set(Task.objects.filter(lead_id__in=lead_ids).values_list("pk", flat=True)),
    }


@pytest.mark.django_db
def test_merge_loses_nothing(rep, admin_user):
    rule("rr", members=[rep])
    policy(stage="mql", target=480, warn=60)
    survivor = _mql(email="ada@lovelace.example", phone="", company="", traits={"plan": "pro"})
    duplicate = _mql(
        email="ada.l@lovelace.example", phone="+44 1234 567890", company="Analytical Engines",
        traits={"plan": "free", "newsletter": "yes"}, deal_value=None,
    )  # fmt: skip
    for lead, n in ((survivor, 3), (duplicate, 4)):
        for i in range(n):
            ActivityFactory(lead=lead, properties={"i": i, "of": lead.pk})
    for lead in (survivor, duplicate):
        Note.objects.create(
            lead=lead, author=rep, body=f"note on {lead.pk}", created_at=timezone.now()
        )
        Task.objects.create(lead=lead, created_by=rep, title="call back", created_at=timezone.now())
    Identity.objects.create(lead=survivor, kind="anonymous_id", value="anon-s")
    Identity.objects.create(lead=duplicate, kind="anonymous_id", value="anon-d")
    consent_record(lead_id=duplicate.pk, channel="email", granted=False, source="unsubscribe")
    fw = framework()
    QualificationChecklist.objects.create(
        lead=survivor, framework=fw, answers={"need": {"met": True}}
    )
    QualificationChecklist.objects.create(
        lead=duplicate, framework=fw, answers={"need": {"met": False}, "budget": {"met": True}}
    )
    before = _everything([survivor.pk, duplicate.pk])
    assert all(before.values()), before  # both leads have rows in every table
    assert Handover.objects.filter(status="open").count() == 2

    merged = lead_merge(survivor_id=survivor.pk, duplicate_id=duplicate.pk, actor=admin_user)

    after = _everything([survivor.pk])
    timeline = Activity.objects.filter(lead=survivor, name=f"Merged with lead #{duplicate.pk}")
    assert after["activities"] == before["activities"] | set(timeline.values_list("pk", flat=True))
    for table in (
        "stage_changes", "identities", "consent", "handovers", "timers", "notifications", "notes",
        "tasks",
    ):  # fmt: skip
        assert after[table] == before[table], table
    # the reports' rollup follows the merged log (one row, for the survivor)
    assert not LeadMilestone.objects.filter(lead_id=duplicate.pk).exists()
    assert LeadMilestone.objects.filter(lead_id=survivor.pk).exists()
    assert not Lead.objects.filter(pk=duplicate.pk).exists()
    # one open handover per lead still holds: the duplicate's was cancelled, not dropped
    assert Handover.objects.filter(lead=survivor, status="open").count() == 1
    assert Handover.objects.filter(lead=survivor, status="cancelled").count() == 1
    assert SlaTimer.objects.filter(lead=survivor, state="running", stage="mql").count() == 1
    # fields: survivor's kept, empty ones filled; traits merged; the stricter consent wins
    assert merged.email == "ada@lovelace.example"
    assert (merged.phone, merged.company) == ("+44 1234 567890", "Analytical Engines")
    assert merged.traits == {"plan": "pro", "newsletter": "yes"}
    assert merged.email_opt_out
    checklist = QualificationChecklist.objects.get(lead=survivor)
    assert checklist.answers == {"need": {"met": True}, "budget": {"met": True}}
    # scored again from all inputs; recorded in the audit log, the timeline and a merge record
    assert merged.rescore_marks.exists()
    record = MergeRecord.objects.get(survivor=survivor)
    assert record.merged_lead_id == duplicate.pk
    assert record.snapshot["email"] == "ada.l@lovelace.example"
    assert record.moved["activities"] == 5  # 4 + the unsubscribe activity
    assert AuditEvent.objects.filter(action="lead.merge", target_id=str(survivor.pk)).exists()
    assert timeline.exists()


@pytest.mark.django_db
def test_merge_refuses_self_missing_and_erased(admin_user):
    a, b = LeadFactory(), LeadFactory()
    with pytest.raises(MergeError):
        lead_merge(survivor_id=a.pk, duplicate_id=a.pk, actor=admin_user)
    Lead.objects.filter(pk=b.pk).update(erased_at=timezone.now())
    with pytest.raises(MergeError, match="erased"):
        lead_merge(survivor_id=a.pk, duplicate_id=b.pk, actor=admin_user)
    assert Lead.objects.filter(pk__in=[a.pk, b.pk]).count() == 2


def test_matching_rules():
    assert canonical_email("J.O.H.N+news@GoogleMail.com") == canonical_email("john@gmail.com")
    assert canonical_email("ann+crm@acme.example") == "ann@acme.example"
    assert canonical_email("a.nn@acme.example") != canonical_email("ann@acme.example")
    assert name_similarity(("J.", "Smith"), ("John", "Smith")) >= 0.8
    assert name_similarity(("Jon", "Smith"), ("John", "Smith")) >= 0.8
    assert name_similarity(("Mary", "Smith"), ("John", "Smith")) < 0.8


@pytest.mark.django_db
def test_scan_finds_email_phone_and_name_domain_duplicates():
    a = LeadFactory(email="john.smith+x@acme.example", first_name="John", last_name="Smith")
    b = LeadFactory(email="john.smith@acme.example", first_name="Johnny", last_name="Smith")
    c = LeadFactory(email="c@one.example", phone="+49 30 1234567", first_name="Q", last_name="A")
    d = LeadFactory(email="d@two.example", phone="030 1234567", first_name="R", last_name="B")
    e = LeadFactory(email="mary@acme.example", first_name="Mary", last_name="Smith")
    f = LeadFactory(email="john@gmail.com", first_name="John", last_name="Smith")  # freemail
    g = LeadFactory(email="jon.smyth@acme.example", first_name="Jon", last_name="Smyth")
    assert duplicates_scan() == 3
    pairs = {(p.lead_a_id, p.lead_b_id): p.reason for p in DuplicatePair.objects.all()}
    assert pairs[(a.pk, b.pk)] == "email"
    assert pairs[(c.pk, d.pk)] == "phone"
    assert pairs[(min(a.pk, g.pk), max(a.pk, g.pk))] == "name_domain"
    assert not any(e.pk in pair or f.pk in pair for pair in pairs)
    pair = DuplicatePair.objects.get(lead_a=c, lead_b=d)
    duplicate_dismiss(pair_id=pair.pk, actor=None)
    assert duplicates_scan() == 2  # a dismissed pair stays dismissed
    assert DuplicatePair.objects.get(pk=pair.pk).status == "dismissed"


@pytest.mark.django_db
def test_merge_via_api_and_page(marketer, rep, client):
    a = LeadFactory(email="x@acme.example")
    b = LeadFactory(email="x+1@acme.example")
    ActivityFactory(lead=b)
    api = APIClient()
    api.force_authenticate(rep)
    assert (
        api.post("/api/v1/privacy/merges/", {"survivor": a.pk, "duplicate": b.pk}).status_code
        == 403
    )
    api.force_authenticate(marketer)
    missing = api.post("/api/v1/privacy/merges/", {"survivor": a.pk, "duplicate": 999999})
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "duplicate"
    assert api.post("/api/v1/privacy/duplicates/scan/").json() == {"open": 1}
    pair = api.get("/api/v1/privacy/duplicates/").json()["results"][0]
    assert (pair["lead_a"], pair["lead_b"]) == (a.pk, b.pk)
    client.force_login(marketer)
    page = client.get(f"/privacy/duplicates/{pair['id']}/merge/")
    assert page.status_code == 200
    assert b"x+1@acme.example" in page.content
    asked = client.post(
        f"/privacy/duplicates/{pair['id']}/merge/", {"survivor": b.pk, "action": "merge"}
    )
    assert asked.status_code == 200  # the confirmation step (issue 17): nothing merged yet
    assert Lead.objects.filter(pk=a.pk).exists()
    done = client.post(
        f"/privacy/duplicates/{pair['id']}/merge/",
        {"survivor": b.pk, "action": "merge", "confirm": "1"},
    )
    assert done.status_code == 302
    assert list(Lead.objects.values_list("pk", flat=True)) == [b.pk]
    assert Activity.objects.filter(lead=b).count() == 2  # its own + the merge in the timeline
    assert client.get("/privacy/duplicates/").status_code == 200
    assert Lead.objects.get().stage == Stage.SUSPECT
