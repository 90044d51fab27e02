"""The demo's account owners and tiers (idempotent): the largest accounts of the generated data
become target accounts owned by the demo reps, so routing and the account pages show them."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count, Q

from companies.models import Account
from companies.services import account_update
from leadflow.models import User


class Command(BaseCommand):
    help = "Give the largest demo accounts a tier and an owner (once)."

    def handle(self, *args: Any, **options: Any) -> None:
        if Account.objects.exclude(tier="").exists():
            return
        reps = list(User.objects.filter(username__in=["rep1", "rep2"]).order_by("username"))
        largest = (
            Account.objects.annotate(
                n=Count("memberships", filter=Q(memberships__ended_at__isnull=True))
            )
            .order_by("-n", "pk")
            .values_list("pk", flat=True)[:12]
        )
        for i, account_id in enumerate(largest):
            data: dict[str, Any] = {"tier": "1" if i < 4 else "2" if i < 8 else "3"}
            if reps and i < 8:
                data["owner"] = reps[i % len(reps)].pk
            account_update(account_id=account_id, data=data, actor=None)
        self.stdout.write(f"Demo accounts: {min(len(largest), 12)} target accounts with tiers.")
