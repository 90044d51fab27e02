"""``manage.py seed_money_demo``: six months of spend on the demo's campaigns and a few repeat
wins, so the return-on-spend and lifetime-value reports have something to show. Through the
same services as an import and the lead page (so after ``attribution_rebuild``: spend names
campaigns that touches carry). Does nothing if any spend exists."""

import zlib
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from attribution.models import Spend, Touch
from attribution.spend import spend_import
from leads.lifecycle import Stage
from leads.models import Lead
from leads.services import lead_win_add


class Command(BaseCommand):
    help = "Seed demo campaign spend and repeat wins (after seed_demo and attribution_rebuild)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Spend.objects.exists():
            return
        first = timezone.localdate().replace(day=1)
        months = []
        for _ in range(6):  # this month and the five before it
            months.append(f"{first:%Y-%m}")
            first = (first - timedelta(days=1)).replace(day=1)
        tags = sorted(
            set(
                Touch.objects.exclude(campaign="")
                .order_by()
                .values_list("source", "medium", "campaign")
                .distinct()
            )
        )
        rows = [
            {"month": month, "source": s, "medium": m, "campaign": c,
             "amount": str(100 + zlib.crc32(f"{month}{s}{m}{c}".encode()) % 20 * 25)}
            for s, m, c in tags
            for month in months
        ]  # fmt: skip
        stored = spend_import(rows=rows, actor=None) if rows else 0
        wins = 0
        now = timezone.now()
        for lead in Lead.objects.filter(stage=Stage.CUSTOMER).order_by("pk")[::4]:
            when = lead.stage_changed_at + timedelta(days=45)
            if when < now:
                lead_win_add(lead_id=lead.pk, actor=None, value=str(1000 + lead.pk % 50 * 100),
                             won_at=when, note="renewal")  # fmt: skip
                wins += 1
        self.stdout.write(f"Demo money: {stored} spend rows, {wins} repeat wins.")
