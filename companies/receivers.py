"""How accounts hear about leads (``leads.events``): a new e-mail domain, a Segment group call."""

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.dispatch import receiver

from companies.domains import domain_clean
from companies.models import Account, AccountDomain, Membership
from companies.services import member_link, members_match_by_domain, members_reassess_roles
from leadflow.audit import audit_record
from leads import events

_SIZES = ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"), (5000, "1001-5000"))


@receiver(events.lead_domains_set, dispatch_uid="companies.match_domains")
def _match_domains(*, lead_ids: list[int], **_: Any) -> None:
    members_match_by_domain(lead_ids=lead_ids)


@receiver(events.lead_titles_set, dispatch_uid="companies.roles")
def _roles(*, lead_ids: list[int], **_: Any) -> None:
    members_reassess_roles(lead_ids=lead_ids)


@receiver(events.group_applied, dispatch_uid="companies.group")
def _group(
    *, lead_id: int, group_id: str, traits: dict[str, Any], public: bool, at: datetime, **_: Any
) -> None:
    """The account whose external id is ``groupId`` (made from the traits if new, unless a
    browser key sent the call: a public key may join an existing account, never create one)."""
    account = Account.objects.filter(external_id=group_id).first()
    if account is None:
        if public:
            return
        account = _account_from_group(group_id, traits)
    else:
        _fill_from_traits(account, traits)
    member_link(
        lead_id=lead_id,
        account_id=account.pk,
        source=Membership.Source.GROUP,
        reason=f"group {group_id}"[:200],
        at=at,
    )


def _columns(traits: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(name := traits.get("name"), str) and name.strip():
        out["name"] = name.strip()[:200]
    if isinstance(industry := traits.get("industry"), str):
        out["industry"] = industry.strip()[:100]
    country = (
        (traits.get("address") or {}).get("country")
        if isinstance(traits.get("address"), dict)
        else traits.get("country")
    )
    if isinstance(country, str) and len(country.strip()) == 2:
        out["country"] = country.strip().upper()
    employees = traits.get("employees")
    if isinstance(employees, int | float) and not isinstance(employees, bool) and employees > 0:
        out["size_band"] = next((band for top, band in _SIZES if employees <= top), "5001+")
    return out


def _account_from_group(group_id: str, traits: dict[str, Any]) -> Account:
    columns = _columns(traits)
    try:
        with transaction.atomic():  # a concurrent first call with the same groupId: one account
            account = Account.objects.create(
                external_id=group_id,
                name=columns.pop("name", group_id[:200]),
                traits=traits,
                **columns,
            )
    except IntegrityError:
        return Account.objects.get(external_id=group_id)
    website = traits.get("website") or traits.get("domain")
    if isinstance(website, str):
        host = website.split("://", 1)[-1].split("/", 1)[0].removeprefix("www.")
        try:
            domain = domain_clean(host)
        except ValidationError:
            domain = ""  # not a company's domain (or free mail): the account stands without one
        if domain and not AccountDomain.objects.filter(domain=domain).exists():
            AccountDomain.objects.create(account=account, domain=domain, is_primary=True)
    audit_record(
        action="account.created",
        target_type="account",
        target_id=account.pk,
        details={"name": account.name, "source": "group", "group_id": group_id},
    )
    return account


def _fill_from_traits(account: Account, traits: dict[str, Any]) -> None:
    """A later group call adds traits (newer win) and fills columns nobody has set."""
    changed = []
    merged = {**account.traits, **traits}
    if merged != account.traits:
        account.traits = merged
        changed.append("traits")
    for name, value in _columns(traits).items():
        if name != "name" and not getattr(account, name):
            setattr(account, name, value)
            changed.append(name)
    if changed:
        account.save(update_fields=[*changed, "updated_at"])
