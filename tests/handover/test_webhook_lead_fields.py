"""Webhook payloads carry the lead's custom field values and its tags; tags cost one query per
written batch of events, not one per lead."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from handover.models import WebhookEvent
from handover.models import WebhookSubscription as Subscription
from leads.lifecycle import Stage
from leads.models import FieldType, Tag, Team
from leads.services import lead_mark_mql
from tests.bulk.test_batch_cost import QUERIES_PER_LEAD, run_move
from tests.leads.custom_fields import make_field
from tests.leads.factories import LeadFactory


@pytest.fixture
def subscription(db):
    return Subscription.objects.create(
        url="https://hooks.example.test/in", event_types=["lead.mql", "lead.stage_changed"]
    )


@pytest.mark.django_db
def test_the_lead_in_a_payload_has_every_custom_value_and_its_tags_sorted(subscription):
    make_field("seats", FieldType.INTEGER)
    make_field("secret_margin", FieldType.DECIMAL, visible_to=["sales_manager"])
    lead = LeadFactory(stage=Stage.LEAD, custom={"seats": 4, "secret_margin": "0.4"})
    lead.tags.add(Tag.objects.create(name="webinar"), Tag.objects.create(name="Cold"))
    lead_mark_mql(lead_id=lead.pk, actor=None, source="system")
    payloads = [e.payload["data"]["lead"] for e in WebhookEvent.objects.all()]
    assert len(payloads) == 2
    for snapshot in payloads:
        assert snapshot["custom"] == {"seats": 4, "secret_margin": "0.4"}
        assert snapshot["tags"] == ["Cold", "webinar"]


@pytest.mark.django_db
def test_a_lead_without_tags_or_values_has_empty_ones(subscription):
    lead = LeadFactory(stage=Stage.LEAD)
    lead_mark_mql(lead_id=lead.pk, actor=None, source="system")
    snapshot = WebhookEvent.objects.first().payload["data"]["lead"]
    assert (snapshot["custom"], snapshot["tags"]) == ({}, [])


@pytest.mark.django_db
def test_tags_in_a_bulk_move_cost_no_query_per_lead(manager, subscription):
    team = Team.objects.create(name="Inside", manager=manager)
    tags = [Tag.objects.create(name=f"t{i}") for i in range(3)]
    small = [LeadFactory(stage=Stage.LEAD, team=team) for _ in range(10)]
    from bulk import services

    large = [LeadFactory(stage=Stage.LEAD, team=team) for _ in range(services.BATCH_SIZE)]
    for i, lead in enumerate(small + large):
        lead.tags.add(*tags[: i % 3 + 1])
    _, cost_small = run_move(manager, small)
    _, cost_large = run_move(manager, large)
    per_lead = (cost_large - cost_small) / (len(large) - len(small))
    assert round(per_lead) <= QUERIES_PER_LEAD, (cost_small, cost_large)
    expected = {lead.pk: sorted(t.name for t in lead.tags.all()) for lead in small + large}
    events = WebhookEvent.objects.all()
    assert events.count() == 2 * len(expected)
    for event in events:
        lead = event.payload["data"]["lead"]
        assert lead["tags"] == expected[lead["id"]]


@pytest.mark.django_db
def test_no_subscription_no_tag_query(db):
    lead = LeadFactory(stage=Stage.LEAD)
    lead.tags.add(Tag.objects.create(name="webinar"))
    with CaptureQueriesContext(connection) as queries:
        lead_mark_mql(lead_id=lead.pk, actor=None, source="system")
    assert not [q for q in queries.captured_queries if "leads_lead_tags" in q["sql"]]
