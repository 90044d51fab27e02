"""Link existing leads to accounts by e-mail domain, a batch at a time; with ``--create`` first
make an account for each company domain that has at least that many leads (its name, industry,
size and country: what its leads give most often). Free-mail and disposable domains never count. Rerunning it
links only what is still unlinked."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.db.models import Count, Max, Min

from companies.domains import domain_clean
from companies.models import Account, AccountDomain, Membership
from companies.services import members_match_by_domain
from leadflow.audit import audit_record
from leadflow.maildomains import free_mail_domains
from leads.models import Lead

_FROM_LEADS = (
    ("company", "name"),
    ("industry", "industry"),
    ("company_size", "size_band"),
    ("country", "country"),
)


def _valid(domain: str) -> str:
    try:
        return domain_clean(domain)
    except ValidationError:  # "localhost", an IP address: no company's domain
        return ""


class Command(BaseCommand):
    help = "Link existing leads to accounts by e-mail domain (optionally creating the accounts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--create",
            type=int,
            default=0,
            metavar="N",
            help="first create an account for each company domain with at least N leads",
        )
        parser.add_argument("--batch", type=int, default=20000, help="leads per transaction")

    def handle(self, *args: Any, create: int, batch: int, **options: Any) -> None:
        if create > 0:
            made = self._create(create)
            self.stdout.write(f"created {made} accounts from company domains")
        bounds = Lead.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
        linked = 0
        if bounds["lo"] is not None:
            for start in range(bounds["lo"], bounds["hi"] + 1, batch):
                with transaction.atomic():
                    linked += members_match_by_domain(pk_range=(start, start + batch))
        if connection.vendor == "postgresql":  # planner statistics for the rows just written
            with connection.cursor() as cursor:
                for model in (Account, AccountDomain, Membership):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        self.stdout.write(f"linked {linked} leads to accounts by e-mail domain")

    @transaction.atomic
    def _create(self, min_leads: int) -> int:
        taken = AccountDomain.objects.values("domain")
        rows = (
            Lead.objects.filter(erased_at__isnull=True)
            .exclude(domain="")
            .exclude(domain__in=sorted(free_mail_domains()))
            .exclude(domain__in=taken)
            .values("domain")
            .annotate(n=Count("pk"))
            .filter(n__gte=min_leads)
        )
        domains = {d for r in rows if (d := _valid(r["domain"]))}
        # each column's most common value among the domain's leads (name from ``company``)
        common: dict[str, dict[str, str]] = {domain: {} for domain in domains}
        for column, target in _FROM_LEADS:
            best: dict[str, int] = {}
            for domain, value, n in (
                Lead.objects.filter(domain__in=domains)
                .exclude(**{column: ""})
                .values_list("domain", column)
                .annotate(n=Count("pk"))
                .order_by("domain", "-n", column)
            ):
                if n > best.get(domain.lower(), 0):
                    best[domain.lower()] = n
                    common[domain.lower()][target] = value
        made = 0
        for domain in sorted(domains):
            values = common[domain]
            account = Account.objects.create(
                name=values.pop("name", domain)[:200],
                industry=values.get("industry", "")[:100],
                size_band=values.get("size_band", ""),
                country=values.get("country", "").upper()[:2],
            )
            AccountDomain.objects.create(account=account, domain=domain, is_primary=True)
            made += 1
        if made:
            audit_record(
                action="account.backfill_created",
                target_type="account",
                details={"accounts": made, "min_leads": min_leads},
            )
        return made
