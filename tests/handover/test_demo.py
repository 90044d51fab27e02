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


@pytest.mark.django_db
def test_seeded_overdue_email_gives_one_due_date_and_says_overdue(
    django_capture_on_commit_callbacks,
):
    """Issue 17: the e-mail said "Accept or reject by <the first due time>" and then the SLA line
    gave the backdated one."""
    from django.core import mail
    from django.utils import timezone

    call_command("seed_demo", leads=10)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_handover_demo")
    timer = SlaTimer.objects.get(handover__lead__email="overdue.mql@demo.test", state="running")
    due = timezone.localtime(timer.due_at)
    (message,) = [m for m in mail.outbox if "Olivia Overdue" in m.subject + m.body]
    assert f"due {due:%a %d %b %Y %H:%M}" in message.body
    assert "(OVERDUE)" in message.body
    assert "Accept or reject by" not in message.body
