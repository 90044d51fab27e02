"""Publish the default scoring model once (idempotent): ``manage.py seed_scoring_demo``."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from leads.models import ActivityKind
from scoring import services
from scoring.models import ScoringModel

NAME = "Default B2B model"
MODEL = {
    "name": NAME,
    "description": "Seeded default: behaviour (30-day half-life) plus firmographic fit.",
    "lead_fit_threshold": 5,
    "mql_threshold": 50,
    "mql_min_grade": "C",
    "recycle_below": None,
    "grade_a_min": 25,
    "grade_b_min": 15,
    "grade_c_min": 5,
    "decay": ScoringModel.Decay.HALF_LIFE,
    "half_life_days": 30.0,
}
RULES: list[dict[str, Any]] = [
    {
        "name": "Pricing page visit",
        "kind": "activity",
        "activity_kind": ActivityKind.PAGE_VIEW,
        "conditions": [{"property": "url", "op": "contains", "value": "/pricing"}],
        "points": 20,
        "max_count": 3,
    },
    {
        "name": "Webinar attended",
        "kind": "activity",
        "activity_kind": ActivityKind.WEBINAR,
        "points": 15,
    },
    {
        "name": "Content download",
        "kind": "activity",
        "activity_kind": ActivityKind.DOWNLOAD,
        "points": 10,
    },
    {
        "name": "E-mail click",
        "kind": "activity",
        "activity_kind": ActivityKind.EMAIL_CLICK,
        "points": 5,
        "window_days": 1,
        "window_max": 2,
        "max_points": 25,
    },
    {
        "name": "Unsubscribed",
        "kind": "activity",
        "activity_kind": ActivityKind.UNSUBSCRIBE,
        "points": -30,
        "repeatable": False,
        "decay": "none",
    },
    {
        "name": "E-mail bounced",
        "kind": "activity",
        "activity_kind": ActivityKind.EMAIL_BOUNCE,
        "points": -10,
        "repeatable": False,
        "decay": "none",
    },
    {"name": "Quiet for 90 days", "kind": "inactivity", "inactive_days": 90, "points": -10},
    {
        "name": "Target industry",
        "kind": "fit",
        "field": "industry",
        "op": "in",
        "value": ["Software", "Financial services", "Healthcare"],
        "points": 10,
    },
    {
        "name": "Mid-market and enterprise",
        "kind": "fit",
        "field": "company_size",
        "op": "in",
        "value": ["201-1000", "1001-5000", "5001+"],
        "points": 10,
    },
    {
        "name": "Decision maker",
        "kind": "fit",
        "field": "seniority",
        "op": "in",
        "value": ["director", "vp", "cxo", "owner"],
        "points": 10,
    },
    {"name": "Free e-mail address", "kind": "fit", "op": "free_mail", "value": True, "points": -15},
]
# Account fit (docs/accounts.md): target tiers first, then the industries the demo sells to best.
# With the demo's MQA threshold of 110, an account needs fit as well as engaged people.
ACCOUNT_RULES: list[dict[str, Any]] = [
    {"name": "Tier 1 account", "kind": "account_fit", "field": "tier", "op": "in",
     "value": ["1"], "points": 30},
    {"name": "Tier 2 account", "kind": "account_fit", "field": "tier", "op": "in",
     "value": ["2"], "points": 20},
    {"name": "Tier 3 account", "kind": "account_fit", "field": "tier", "op": "in",
     "value": ["3"], "points": 10},
    {"name": "Core industry", "kind": "account_fit", "field": "industry", "op": "in",
     "value": ["Software", "Financial services", "Manufacturing"], "points": 10},
]  # fmt: skip


class Command(BaseCommand):
    help = "Publish the default scoring model (once) and rescore leads in the background."

    def handle(self, *args: Any, **options: Any) -> None:
        if ScoringModel.objects.filter(name=NAME).exists():
            self.stdout.write("Scoring demo: the default model exists already.")
            return
        with transaction.atomic():
            model = services.model_create(data={**MODEL, "account_mqa_threshold": 110})
            for rule in RULES + ACCOUNT_RULES:
                services.rule_create(model_id=model.pk, data=rule)
            run = services.model_publish(model_id=model.pk)
        self.stdout.write(
            self.style.SUCCESS(
                f"Scoring demo: published {NAME!r} v{model.version} with {len(RULES) + len(ACCOUNT_RULES)} rules; "
                f"rescoring {run.total} leads in the background (run {run.pk})."
            )
        )
