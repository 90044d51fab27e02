"""One row of every model behind the API, linked the way real data is (so a DELETE meets rows
that still use what it deletes, and a detail route finds something to show)."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from companies.models import Membership
from companies.services import account_create, member_link
from handover.models import (
    Delivery,
    DeliveryAttempt,
    Handover,
    Notification,
    OutOfOffice,
    RejectionReason,
    SlaTimer,
    WebhookEvent,
    WebhookSubscription,
)
from leadflow.roles import Role
from leads.lifecycle import Stage
from leads.models import ExchangeRate
from privacy.models import DuplicatePair, ImportJob, MergeRecord, SavedMapping
from scoring.models import ScoringRun
from tests.handover.factories import calendar, passed_checklist, policy, rule
from tests.leads.factories import ActivityFactory, LeadFactory, UserFactory
from tests.scoring.factories import fit_rule, make_model


def seed_every_model() -> None:
    now = timezone.now()
    rep = UserFactory(username="seed-rep", role=Role.SALES_REP)
    # a deal in HUF: deleting the HUF rate meets a lead that still uses it
    ExchangeRate.objects.create(currency="HUF", rate=Decimal("0.0025"))
    lead = LeadFactory(
        stage=Stage.MQL,
        owner=rep,
        traits={"plan": "pro"},
        currency="HUF",
        deal_value=Decimal("1000000"),
    )
    other = LeadFactory(email=lead.email.replace("@", "+dup@"))
    ActivityFactory(lead=lead)
    reason, _ = RejectionReason.objects.get_or_create(
        code="seed-reason", defaults={"label": "Seed", "route": RejectionReason.Route.NURTURE}
    )
    handover = Handover.objects.create(lead=lead, owner=rep, opened_at=now, assigned_at=now)
    Handover.objects.create(
        lead=other,
        status=Handover.Status.REJECTED,
        opened_at=now,
        rejection_reason=reason,
        reason_code=reason.code,
        decided_at=now,
    )
    sla = policy(cal=calendar())
    SlaTimer.objects.create(
        lead=lead, handover=handover, policy=sla, stage=Stage.MQL, owner=rep,
        started_at=now, due_at=now + timedelta(hours=1),
    )  # fmt: skip
    passed_checklist(lead)
    rule("seed rule", members=[rep])
    OutOfOffice.objects.create(user=rep, starts_at=now, ends_at=now + timedelta(days=1))
    Notification.objects.create(
        recipient=rep, kind="handover", title="Seed", lead=lead, handover=handover, created_at=now
    )
    subscription = WebhookSubscription.objects.create(
        url="https://hooks.example.com/leadflow", event_types=["lead.stage_changed"]
    )
    event = WebhookEvent.objects.create(type="lead.stage_changed", payload={}, created_at=now)
    delivery = Delivery.objects.create(
        channel=Delivery.Channel.WEBHOOK, event=event, subscription=subscription,
        next_attempt_at=now, created_at=now,
    )  # fmt: skip
    DeliveryAttempt.objects.create(delivery=delivery, number=1, started_at=now, ok=False)
    model = make_model([fit_rule("industry", "in", ["Software"], 10)])
    ScoringRun.objects.create(model=model, kind=ScoringRun.Kind.DRY_RUN)
    ImportJob.objects.create(filename="seed.csv", status=ImportJob.Status.DONE)
    SavedMapping.objects.create(name="seed", mapping={"E-mail": "email"})
    DuplicatePair.objects.create(
        lead_a=lead, lead_b=other, reason=DuplicatePair.Reason.EMAIL, found_at=now
    )
    MergeRecord.objects.create(survivor=lead, merged_lead_id=0, snapshot={}, at=now)
    parent = account_create(
        data={"name": "Seed Group", "domains": ["seed-group.example"]}, actor=None
    )
    account = account_create(
        data={"name": "Seed Co", "domains": ["seed.example"], "owner": rep.pk, "tier": "1",
              "parent": parent.pk, "traits": {"plan": "pro"}},
        actor=None,
    )  # fmt: skip
    member_link(lead_id=lead.pk, account_id=account.pk, source=Membership.Source.EXPLICIT)
