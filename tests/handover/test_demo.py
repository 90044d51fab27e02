"""The embedded demo shows an SLA breach firing: seed, then one scanner pass breaches and escalates."""

import pytest
from django.core.management import call_command

from handover.models import Handover, Notification, SlaEvent, SlaTimer
from handover.sla import sla_scan


@pytest.mark.django_db
def test_seed_handover_demo_is_idempotent_and_the_scanner_breaches_it():
    call_command("seed_demo", leads=10)
    call_command("seed_handover_demo")
    call_command("seed_handover_demo")
    handover = Handover.objects.get(lead__email="overdue.mql@demo.test")
    first_owner = handover.owner
    assert first_owner is not None
    result = sla_scan()
    assert result.fired["breach"] == 1
    kinds = list(
        SlaEvent.objects.filter(timer__handover=handover)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["warning", "breach", "remind_owner", "notify_manager", "reassign"]
    handover.refresh_from_db()
    assert handover.owner not in (None, first_owner)  # reassigned to the other rep
    assert SlaTimer.objects.filter(handover=handover, state="running").count() == 1
    assert Notification.objects.filter(
        recipient__username="manager", kind="sla.notify_manager"
    ).exists()
