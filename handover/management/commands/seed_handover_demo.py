"""Demo assignment rule and an overdue handover, so the demo shows an SLA breach firing. Idempotent.

Run after ``seed_demo`` (``manage.py run`` calls both). The overdue handover's clock is started
two weeks back, so on the next scan (within ``LEADFLOW_SLA_SCAN_SECONDS``) the scanner breaches
it and walks the whole ladder: remind the owner, notify the manager, reassign to the other rep.
"""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from handover import sla
from handover.models import AssignmentMember, AssignmentRule, Handover, SlaTimer
from leadflow.models import User
from leads import services as lead_services
from leads.models import Lead, Team

DEMO_EMAIL = "overdue.mql@demo.test"


class Command(BaseCommand):
    help = "Create the demo assignment rule and an overdue MQL handover (once)."

    def handle(self, *args: Any, **options: Any) -> None:
        team = Team.objects.filter(name="Inside sales").first()
        reps = list(User.objects.filter(username__in=["rep1", "rep2"]).order_by("username"))
        if team is None or len(reps) < 2:
            self.stdout.write("seed_handover_demo: run seed_demo first (needs team and reps).")
            return
        with transaction.atomic():
            rule, _ = AssignmentRule.objects.get_or_create(
                name="Inside sales round-robin", defaults={"team": team, "position": 100}
            )
            for rep in reps:
                AssignmentMember.objects.get_or_create(rule=rule, user=rep)
        if Lead.objects.filter(email=DEMO_EMAIL).exists():
            self.stdout.write("seed_handover_demo: already seeded.")
            return
        with transaction.atomic():
            lead = lead_services.lead_create(
                data={
                    "email": DEMO_EMAIL,
                    "first_name": "Olivia",
                    "last_name": "Overdue",
                    "company": "Latecomer GmbH",
                    "industry": "Software",
                    "country": "DE",
                    "source": "webinar",
                }
            )
            lead_services.lead_qualify(lead_id=lead.pk, actor=None, source="system")
            lead_services.lead_mark_mql(lead_id=lead.pk, actor=None, source="system")
            handover = Handover.objects.get(lead=lead, status=Handover.Status.OPEN)
            for timer in SlaTimer.objects.filter(handover=handover, state=SlaTimer.State.RUNNING):
                sla.timer_restart_from(
                    timer_id=timer.pk, started_at=timezone.now() - timedelta(days=14)
                )
        self.stdout.write(
            f"seed_handover_demo: handover #{handover.pk} of {lead.display_name} is overdue; "
            "the SLA scanner will breach and escalate it within a minute."
        )
