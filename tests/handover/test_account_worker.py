"""End to end with a real Celery worker and the real broker: members' activities → lead scores
(the sweep task on commit) → account marks → the account sweep (asked for as beat asks) →
account score → MQA → account handover with its deadline → the owner's notification, and the
signed ``account.mqa`` webhook delivered by the worker to a real local HTTP receiver."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from companies import services as company_services
from handover.models import AccountHandover, Delivery, Notification, WebhookSubscription
from leadflow.roles import Role
from leads import services as lead_services
from leads.models import ActivityKind, Lead, Team
from scoring.models import AccountScore, LeadScore
from scoring.tasks import account_scores_sweep_task
from tests.handover.factories import policy
from tests.handover.receiver import webhook_receiver
from tests.leads.factories import LeadFactory, UserFactory
from tests.scoring.factories import activity_rule, make_model
from tests.worker import celery_worker, private_queue, task_routes, wait_until


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_member_activity_to_account_mqa_handover_and_notification_in_a_real_worker(
    live_celery, monkeypatch
):
    monkeypatch.setenv("LEADFLOW_WEBHOOK_ALLOW_PRIVATE", "1")  # the worker's receiver is local
    queue = private_queue("accounts-test")
    routes = {"scoring.tasks.*": {"queue": queue}, "handover.tasks.*": {"queue": queue}}
    with (
        webhook_receiver(secret="whsec-accounts") as receiver,
        task_routes(live_celery, routes),
        # and the run's queue: the worker itself queues the deliveries there (its own routes)
        celery_worker("-Q", f"{queue},{os.environ['LEADFLOW_CELERY_QUEUE']}"),
    ):
        make_model(
            [
                activity_rule(ActivityKind.WEBINAR, 20),
                {"kind": "account_fit", "field": "tier", "op": "in", "value": ["1"], "points": 50},
            ],
            account_mqa_threshold=80,
            account_member_points=10,
            account_engagement_cap=0,
            account_role_points=0,
        )
        policy(stage="mql", target=120, warn=30)
        manager = UserFactory(username="boss", role=Role.SALES_MANAGER)
        owner = UserFactory(username="owner", role=Role.SALES_REP)
        team = Team.objects.create(name="Enterprise", manager=manager)
        team.members.add(owner)
        WebhookSubscription.objects.create(
            url=receiver.url, event_types=["account.mqa"], secret="whsec-accounts"
        )
        account = company_services.account_create(
            data={"name": "Nordlys A/S", "tier": "1", "owner": owner.pk, "team": team.pk},
            actor=None,
        )
        people = [LeadFactory(email=f"p{i}@nordlys.example") for i in range(3)]
        for lead in people:
            company_services.member_link(lead_id=lead.pk, account_id=account.pk, source="explicit")
        assert wait_until(lambda: LeadScore.objects.count() == 3, timeout=60)
        now = timezone.now()
        for i, lead in enumerate(people[:2]):  # two engaged members: 50 + 2 × 10 = 70
            lead_services.activity_record(
                lead_id=lead.pk, kind=ActivityKind.WEBINAR, occurred_at=now - timedelta(seconds=i)
            )
        assert wait_until(lambda: Lead.objects.filter(engagement_score=20).count() == 2, 60)
        account_scores_sweep_task.delay()
        assert wait_until(
            lambda: AccountScore.objects.filter(pk=account.pk, score=70).exists(), timeout=60
        ), "the account was not scored"
        assert not AccountHandover.objects.exists()
        lead_services.activity_record(  # the third: 80, MQA
            lead_id=people[2].pk, kind=ActivityKind.WEBINAR, occurred_at=timezone.now()
        )
        assert wait_until(lambda: Lead.objects.filter(engagement_score=20).count() == 3, 60)
        account_scores_sweep_task.delay()
        assert wait_until(lambda: AccountHandover.objects.exists(), timeout=60), "no MQA"
        handover = AccountHandover.objects.get()
        assert (handover.owner_id, handover.status, handover.score) == (owner.pk, "open", 80)
        assert handover.due_at is not None
        assert handover.due_at > handover.opened_at
        note = Notification.objects.get(kind="account.mqa")
        assert note.recipient_id == owner.pk
        assert "Nordlys A/S" in note.title
        assert wait_until(lambda: sum(receiver.by_event.values()) == 1, timeout=60), (
            "the account.mqa webhook was not delivered"
        )
        delivery = Delivery.objects.get(channel=Delivery.Channel.WEBHOOK)
        assert delivery.event.type == "account.mqa"
        assert receiver.by_event[str(delivery.event.event_id)] == 1
        assert receiver.bad_signatures == 0
