import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection

from leadflow.exceptions import DomainError
from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageChange
from leads.services import (
    activity_record,
    lead_assign,
    lead_create,
    lead_mark_sal,
    lead_reset_engagement,
    lead_update,
)
from tests.leads.factories import LeadFactory


@pytest.mark.django_db
def test_lead_create_normalises_and_logs_creation(marketer):
    lead = lead_create(
        data={"email": "  Jane.Doe@Example.COM ", "first_name": "Jane", "country": "de"},
        actor=marketer,
        source="ui",
    )
    assert (lead.email, lead.domain, lead.country, lead.stage) == (
        "jane.doe@example.com",
        "example.com",
        "DE",
        Stage.SUSPECT,
    )
    change = StageChange.objects.get(lead=lead)
    assert (change.from_stage, change.to_stage, change.actor, change.actor_kind) == (
        "",
        "suspect",
        marketer,
        "marketer",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"first_name": "No identity"}, "email"),
        ({"email": "a@b.example", "company_size": "huge"}, "company_size"),
        ({"email": "a@b.example", "stage": "customer"}, "stage"),
        ({"email": "a@b.example", "score": 99}, "score"),
    ],
)
def test_lead_create_rejects_bad_input_naming_the_field(data, field):
    with pytest.raises(ValidationError) as err:
        lead_create(data=data)
    assert field in err.value.message_dict
    assert Lead.objects.count() == 0
    assert StageChange.objects.count() == 0


@pytest.mark.django_db
def test_email_is_unique_whatever_its_case():
    lead_create(data={"email": "dup@example.com"})
    with pytest.raises(ValidationError) as err:
        lead_create(data={"email": "DUP@example.com"})
    assert err.value.messages
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_lead_update_marks_for_rescore_and_never_touches_stage():
    lead = LeadFactory(stage=Stage.LEAD)
    lead_update(lead_id=lead.pk, data={"industry": "Healthcare"})
    lead.refresh_from_db()
    assert (lead.industry, lead.stage) == ("Healthcare", Stage.LEAD)
    assert lead.rescore_marks.exists()
    with pytest.raises(ValidationError):
        lead_update(lead_id=lead.pk, data={"stage": "customer"})


@pytest.mark.django_db
def test_activity_record_marks_lead_dirty_in_the_same_transaction():
    lead = LeadFactory()
    activity_record(
        lead_id=lead.pk,
        kind="page_view",
        occurred_at=lead.created_at,
        properties={"url": "/pricing"},
    )
    lead.refresh_from_db()
    assert lead.rescore_marks.exists()
    with pytest.raises(ValidationError) as err:
        activity_record(lead_id=lead.pk, kind="teleport", occurred_at=lead.created_at)
    assert "kind" in err.value.message_dict
    with pytest.raises(DomainError):
        activity_record(lead_id=10**9, kind="page_view", occurred_at=lead.created_at)
    assert Activity.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_accepts_write_one_stage_change(rep):
    lead = LeadFactory(stage=Stage.MQL)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def accept() -> None:
        try:
            barrier.wait()
            result = lead_mark_sal(lead_id=lead.pk, actor=rep, source="api")
            outcome = "moved" if result.change else "no-op"
        except DomainError as exc:
            outcome = exc.code
        except Exception as exc:  # noqa: BLE001  (any other error is the failure we look for)
            outcome = f"error: {exc!r}"
        finally:
            close_old_connections()
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=accept) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["moved"] + ["no-op"] * 19
    assert StageChange.objects.filter(lead=lead, to_stage=Stage.SAL).count() == 1


@pytest.mark.django_db
def test_lead_assign_and_engagement_reset(rep):
    lead = LeadFactory(stage=Stage.MQL)
    lead_assign(lead_id=lead.pk, owner=rep)
    reset = lead_reset_engagement(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.owner == rep
    assert lead.score_reset_at == reset.score_reset_at
    assert lead.rescore_marks.exists()


@pytest.mark.django_db
def test_lead_convert_records_the_deal_value(rep):
    from decimal import Decimal

    from leads.services import lead_convert

    lead = LeadFactory(stage=Stage.SQL)
    with pytest.raises(ValidationError):
        lead_convert(lead_id=lead.pk, actor=rep, source="ui", deal_value=Decimal("-1"))
    lead_convert(lead_id=lead.pk, actor=rep, source="ui", deal_value=Decimal("1200.50"))
    lead.refresh_from_db()
    assert (lead.stage, lead.deal_value) == (Stage.CUSTOMER, Decimal("1200.50"))
