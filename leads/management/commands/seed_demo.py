"""Demo users, a team and seeded leads for the embedded profile. Idempotent."""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from leadflow.models import User
from leadflow.roles import Role, sync_roles
from leads.customfield_services import field_create
from leads.lifecycle import Stage
from leads.models import CustomField, ExchangeRate, Lead, Team
from leads.tags import tag_get_or_create

DEMO_PASSWORD = "leadflow-demo"  # noqa: S105  (demo accounts exist only where someone seeds them)
DEMO_USERS = (
    ("admin", Role.ADMIN, "Ada", "Admin"),
    ("manager", Role.SALES_MANAGER, "Maria", "Manager"),
    ("marketer", Role.MARKETER, "Mark", "Marketer"),
    ("rep1", Role.SALES_REP, "Rita", "Rep"),
    ("rep2", Role.SALES_REP, "Raj", "Rep"),
)


class Command(BaseCommand):
    help = "Create demo users (password 'leadflow-demo') and demo leads, once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=200)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            sync_roles()
            users = {}
            for username, role, first, last in DEMO_USERS:
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={
                        "first_name": first,
                        "last_name": last,
                        "email": f"{username}@demo.test",
                    },
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.is_staff = role == Role.ADMIN
                    user.is_superuser = role == Role.ADMIN
                    user.save()
                user.groups.add(*Group.objects.filter(name=role.value))
                users[username] = user
            team, _ = Team.objects.get_or_create(
                name="Inside sales", defaults={"manager": users["manager"]}
            )
            team.members.add(users["rep1"], users["rep2"])
        if not Lead.objects.exists():
            call_command(
                "generate_data", leads=options["leads"], seed=options["seed"], stdout=self.stdout
            )
            Lead.objects.filter(owner__in=[users["rep1"], users["rep2"]]).update(team=team)
            _tag_some_leads()
            _won_deal_values()
            _open_deal_values()
            _demo_custom_fields()
        self.stdout.write(
            "Demo logins (password 'leadflow-demo'): " + ", ".join(u[0] for u in DEMO_USERS)
        )


def _won_deal_values() -> None:
    """The generator writes no deal values; the demo's customers get one (2,000-49,900, from
    the lead's id), so the revenue figures of the sources and attribution reports show."""
    won = list(Lead.objects.filter(stage=Stage.CUSTOMER, deal_value__isnull=True).only("pk"))
    for lead in won:
        lead.deal_value = Decimal(2000 + (lead.pk * 7919) % 480 * 100)
    Lead.objects.bulk_update(won, ["deal_value"])


# demo rates into the reporting currency (EUR): what one unit was worth in late 2026, roughly
DEMO_RATES = {"HUF": Decimal("0.0025"), "DKK": Decimal("0.134"), "CZK": Decimal("0.040")}


def _open_deal_values() -> None:
    """The demo's SQLs get an expected value (5,000-64,900 EUR, from the lead's id), every
    fifth in HUF and every fifth in DKK at the demo rates, so the pipeline report shows."""
    in_euros = settings.LEADFLOW_CURRENCY == "EUR"  # (the demo rates are into euros)
    if in_euros:
        for code, rate in DEMO_RATES.items():
            ExchangeRate.objects.get_or_create(currency=code, defaults={"rate": rate})
    open_deals = list(Lead.objects.filter(stage=Stage.SQL, expected_value__isnull=True))
    for lead in open_deals:
        eur = Decimal(5000 + (lead.pk * 104729) % 600 * 100)
        code = {0: "HUF", 1: "DKK"}.get(lead.pk % 5, "") if in_euros else ""
        lead.currency = code
        lead.expected_value = (eur / DEMO_RATES[code]).quantize(Decimal(100)) if code else eur
    Lead.objects.bulk_update(open_deals, ["expected_value", "currency"])


DEMO_TAGS = ("Trade fair 2026", "Partner referral", "Webinar", "Enterprise")


def _tag_some_leads() -> None:
    """Every seventh lead carries one of a few tags (in one insert), so the demo shows them."""
    made = [tag_get_or_create(name) for name in DEMO_TAGS]
    ids = Lead.objects.order_by("id").values_list("id", flat=True)
    Lead.tags.through.objects.bulk_create(
        Lead.tags.through(lead_id=lead_id, tag_id=made[n % len(made)].pk)
        for n, lead_id in enumerate(ids[::7])
    )


# Two fields a B2B team would add (issue 24): the ERP a company runs (on the cards, indexed) and
# how many sites it has; most demo leads hold values, set in one UPDATE per field and value.
DEMO_FIELDS = (
    {
        "key": "erp",
        "label": "ERP in use",
        "type": "choice",
        "choices": [
            {"value": "sap", "label": "SAP"},
            {"value": "dynamics", "label": "Microsoft Dynamics"},
            {"value": "odoo", "label": "Odoo"},
            {"value": "none", "label": "None yet"},
        ],
        "show_on_cards": True,
        "filterable": True,
        "help_text": "The company's ERP system: integration effort and fit.",
    },
    {"key": "locations", "label": "Locations", "type": "integer", "help_text": "Sites it runs."},
)


def _demo_custom_fields() -> None:
    if CustomField.objects.exists():
        return
    for data in DEMO_FIELDS:
        field_create(data=data, actor=None)
    erp = [c["value"] for c in DEMO_FIELDS[0]["choices"]]  # type: ignore[attr-defined]
    leads = list(Lead.objects.order_by("id").only("pk", "custom"))
    for n, lead in enumerate(leads):  # every fifth lead has no values
        if n % 5 < len(erp):
            lead.custom = {"erp": erp[n % 5], "locations": 1 + (lead.pk * 7) % 40}
    Lead.objects.bulk_update(leads, ["custom"], batch_size=1000)
