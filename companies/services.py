"""Every write to accounts and their members. Each refusal names the field and the reason and
leaves nothing half-written (one transaction per call)."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.buying import role_for
from companies.domains import domain_clean
from companies.events import account_merging, members_added
from companies.matching import RANK, may_replace
from companies.models import Account, AccountDomain, AccountRescoreMark, BuyingRole, Membership
from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leadflow.maildomains import free_mail_domains
from leadflow.models import User
from leadflow.roles import Role
from leads.models import Lead, Team

FIELDS = ("name", "external_id", "industry", "size_band", "country", "tier", "traits")
# what account fit rules read: a change marks the account for rescoring
SCORED_FIELDS = frozenset({"industry", "size_band", "country", "tier"})


class AccountError(DomainError):
    pass


def accounts_mark(account_ids: Iterable[int | None]) -> None:
    """Mark accounts for rescoring (their members or fit fields changed), in the caller's
    transaction; the scoring app's account sweep takes the marks."""
    now = timezone.now()
    AccountRescoreMark.objects.bulk_create(
        AccountRescoreMark(account_id=pk, marked_at=now)
        for pk in sorted({pk for pk in account_ids if pk is not None})
    )


def _owner(value: Any) -> User | None:
    if value in (None, ""):
        return None
    user = value if isinstance(value, User) else User.objects.filter(pk=value).first()
    if user is None or not user.is_active:
        raise ValidationError({"owner": _("No active user has the id %(id)s.") % {"id": value}})
    if not user.groups.filter(name__in=[Role.SALES_REP, Role.SALES_MANAGER]).exists():
        raise ValidationError({"owner": _("An account's owner must be a sales rep or manager.")})
    return user


def _team(value: Any) -> Team | None:
    if value in (None, ""):
        return None
    team = value if isinstance(value, Team) else Team.objects.filter(pk=value).first()
    if team is None:
        raise ValidationError({"team": _("No team has the id %(id)s.") % {"id": value}})
    return team


def _parent(account: Account, value: Any) -> Account | None:
    if value in (None, ""):
        return None
    parent = value if isinstance(value, Account) else Account.objects.filter(pk=value).first()
    if parent is None:
        raise ValidationError({"parent": _("No account has the id %(id)s.") % {"id": value}})
    seen: set[int] = set()
    node: Account | None = parent
    while node is not None:  # walk up: reaching this account again would close a circle
        if account.pk is not None and node.pk == account.pk:
            raise ValidationError(
                {"parent": _("%(parent)s is this account or one of its subsidiaries; an account "
                             "cannot be its own parent.") % {"parent": parent.name}}
            )  # fmt: skip
        if node.pk in seen:  # pragma: no cover  (an existing circle; refused on every write)
            break
        seen.add(node.pk)
        node = node.parent
    return parent


def _domains(account: Account | None, values: Sequence[str]) -> list[str]:
    """Cleaned, in order, first is primary. A domain another account holds is refused."""
    errors, clean = [], []
    for raw in values:
        try:
            domain = domain_clean(str(raw))
        except ValidationError as exc:
            errors.extend(exc.messages)
            continue
        if domain not in clean:
            clean.append(domain)
    taken = AccountDomain.objects.filter(domain__in=clean).select_related("account")
    if account is not None and account.pk is not None:
        taken = taken.exclude(account=account)
    errors += [
        _("%(domain)s belongs to the account %(name)s.")
        % {"domain": d.domain, "name": d.account.name}
        for d in taken
    ]
    if errors:
        raise ValidationError({"domains": errors})
    return clean


def _apply(account: Account, data: Mapping[str, Any]) -> list[str]:
    changed = []
    for name in FIELDS:
        if name in data:
            value = data[name]
            if name == "external_id":
                value = (str(value).strip() or None) if value is not None else None
            elif name == "traits":
                value = value or {}
                if not isinstance(value, dict):
                    raise ValidationError({"traits": _("Traits must be an object.")})
            elif name == "country":
                value = (value or "").strip().upper()
            else:
                value = (value or "").strip() if isinstance(value, str) or value is None else value
            if getattr(account, name) != value:
                setattr(account, name, value)
                changed.append(name)
    for name, clean in (("owner", _owner), ("team", _team)):
        if name in data:
            value = clean(data[name])
            if getattr(account, name) != value:
                setattr(account, name, value)
                changed.append(name)
    if "parent" in data:
        parent = _parent(account, data["parent"])
        if account.parent != parent:
            account.parent = parent
            changed.append("parent")
    return changed


def _set_domains(account: Account, domains: list[str]) -> None:
    AccountDomain.objects.filter(account=account).exclude(domain__in=domains).delete()
    AccountDomain.objects.filter(account=account).update(is_primary=False)
    for i, domain in enumerate(domains):
        AccountDomain.objects.update_or_create(
            domain=domain, defaults={"account": account, "is_primary": i == 0}
        )


def _save(account: Account, fields: list[str] | None = None) -> None:
    taken = _("Another account has the external id %(id)s.") % {"id": account.external_id}
    others = Account.objects.exclude(pk=account.pk)
    if account.external_id is not None and others.filter(external_id=account.external_id).exists():
        raise ValidationError({"external_id": taken})
    account.full_clean(exclude=["owner", "team", "parent"], validate_constraints=False)
    try:
        with transaction.atomic():
            account.save(update_fields=[*fields, "updated_at"] if fields is not None else None)
    except IntegrityError:  # a concurrent writer took the external id since the check
        raise ValidationError({"external_id": taken}) from None


@transaction.atomic
def account_create(*, data: Mapping[str, Any], actor: User | None) -> Account:
    """``data``: the FIELDS, owner/team/parent (ids or objects) and ``domains`` (first is the
    primary). Members whose e-mail domain is one of them are linked at once."""
    account = Account()
    _apply(account, data)
    domains = _domains(None, data.get("domains") or [])
    _save(account)
    _set_domains(account, domains)
    audit_record(
        action="account.created",
        actor=actor,
        target_type="account",
        target_id=account.pk,
        details={"name": account.name, "domains": domains},
    )
    members_match_by_domain(domains=domains)
    return account


@transaction.atomic
def account_update(*, account_id: int, data: Mapping[str, Any], actor: User | None) -> Account:
    account = _locked(account_id)
    before = {name: _plain(getattr(account, name)) for name in (*FIELDS, "owner", "team", "parent")}
    changed = _apply(account, data)
    domains = None
    if "domains" in data:
        domains = _domains(account, data.get("domains") or [])
        old = list(
            account.domains.values_list("domain", flat=True).order_by("-is_primary", "domain")
        )
        if old != domains:
            changed.append("domains")
            before["domains"] = old
    if not changed:
        return account
    _save(account, [f for f in changed if f != "domains"])
    if SCORED_FIELDS.intersection(changed):
        accounts_mark([account.pk])
    if domains is not None:
        _set_domains(account, domains)
        members_match_by_domain(domains=domains)
    after = {name: _plain(getattr(account, name)) for name in changed if name != "domains"}
    if domains is not None:
        after["domains"] = domains
    audit_record(
        action="account.updated",
        actor=actor,
        target_type="account",
        target_id=account.pk,
        details={"before": {k: before[k] for k in changed}, "after": after},
    )
    return account


def _plain(value: Any) -> Any:
    return value.pk if hasattr(value, "pk") else value


def _locked(account_id: int) -> Account:
    try:
        return Account.objects.select_for_update().get(pk=account_id)
    except Account.DoesNotExist:
        raise AccountError(
            _("No account has the id %(id)s.") % {"id": account_id}, field="account"
        ) from None


# --- members ---------------------------------------------------------------------------------


@transaction.atomic
def member_link(
    *,
    lead_id: int,
    account_id: int | None,
    source: str,
    actor: User | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> bool:
    """Make ``account_id`` (None: explicitly no account) the lead's current account, if the
    precedence rule lets ``source`` replace its current link. Returns whether anything changed.
    The ended and the new membership rows are the audit trail (who, when, source, why)."""
    lead = Lead.objects.select_for_update(no_key=True).filter(pk=lead_id).first()
    if lead is None:
        raise AccountError(_("No lead has the id %(id)s.") % {"id": lead_id}, field="lead")
    if account_id is not None and not Account.objects.filter(pk=account_id).exists():
        raise AccountError(_("No account has the id %(id)s.") % {"id": account_id}, field="account")
    current = Membership.objects.filter(lead_id=lead_id, ended_at__isnull=True).first()
    if current is not None and current.account_id == account_id:
        if source != current.source and may_replace(current=current.source, new=source):
            current.source = source  # the same company, now on stronger grounds
            current.save(update_fields=["source"])
        return False
    if not may_replace(current=current.source if current else None, new=source):
        return False
    at = at or timezone.now()
    if current is not None:
        current.ended_at = at
        current.save(update_fields=["ended_at"])
    Membership.objects.create(
        lead_id=lead_id,
        account_id=account_id,
        source=source,
        role=role_for(job_title=lead.job_title, seniority=lead.seniority),
        started_at=at,
        actor=actor if actor is not None and actor.pk else None,
        reason=reason[:200],
    )
    accounts_mark([current.account_id if current else None, account_id])
    if account_id is not None:
        members_added.send(Account, pairs=[(account_id, lead_id)], source=source, now=at)
    return True


def members_match_by_domain(
    *,
    lead_ids: Iterable[int] | None = None,
    domains: Iterable[str] | None = None,
    pk_range: tuple[int, int] | None = None,
) -> int:
    """Link leads with no current link to the account holding their e-mail domain, set-based
    (new leads, a domain added to an account, the backfill a batch at a time). Free-mail domains never match.
    Returns how many leads were linked."""
    leads = Lead.objects.filter(erased_at__isnull=True).exclude(domain="")
    if lead_ids is not None:
        leads = leads.filter(pk__in=list(lead_ids))
    if domains is not None:
        leads = leads.filter(domain__in=list(domains))
    if pk_range is not None:  # the backfill's batches: [first, last)
        leads = leads.filter(pk__gte=pk_range[0], pk__lt=pk_range[1])
    leads = leads.exclude(
        pk__in=Membership.objects.filter(ended_at__isnull=True).values("lead_id")
    ).exclude(domain__in=sorted(free_mail_domains()))
    owners = dict(
        AccountDomain.objects.filter(domain__in=leads.values("domain").distinct()).values_list(
            "domain", "account_id"
        )
    )
    if not owners:
        return 0
    now = timezone.now()
    rows = [
        Membership(
            lead_id=pk,
            account_id=owners[domain.lower()],
            source=Membership.Source.DOMAIN,
            role=role_for(job_title=title, seniority=seniority),
            started_at=now,
        )
        for pk, domain, title, seniority in leads.filter(Q(domain__in=list(owners))).values_list(
            "pk", "domain", "job_title", "seniority"
        )
        if domain.lower() in owners
    ]
    # a concurrent link of the same lead wins: its row stands, ours is skipped (one current)
    Membership.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    accounts_mark(row.account_id for row in rows)
    if rows:  # candidates: a concurrent link's lead was skipped (the listener checks)
        pairs = [(row.account_id, row.lead_id) for row in rows]
        members_added.send(Account, pairs=pairs, source=Membership.Source.DOMAIN, now=now)
    return len(rows)


def members_end(*, lead_id: int, at: datetime) -> int:
    """End the lead's current link (an erased person belongs to no account any more) and mark
    the account for rescoring; returns 1 if it had one."""
    current = Membership.objects.filter(lead_id=lead_id, ended_at__isnull=True)
    accounts = list(current.exclude(account=None).values_list("account_id", flat=True))
    ended = current.update(ended_at=at)
    accounts_mark(accounts)
    return ended


def members_reassess_roles(*, lead_ids: Iterable[int]) -> None:
    """The rule's role again for leads whose title or seniority changed; a person's stays."""
    members = Membership.objects.filter(
        lead_id__in=list(lead_ids),
        ended_at__isnull=True,
        account__isnull=False,
        role_source=Membership.RoleSource.RULE,
    ).select_related("lead")
    for member in members:
        role = role_for(job_title=member.lead.job_title, seniority=member.lead.seniority)
        if role != member.role:
            member.role = role
            member.save(update_fields=["role"])
            accounts_mark([member.account_id])


def members_fold(*, survivor_id: int, duplicate_id: int, at: datetime) -> None:
    """Two leads become one (``privacy.merge``): the duplicate's links move to the survivor, so
    its history stays. Of two current links the stronger source wins (a tie: the survivor's);
    the other one ends now. Call in the merge's transaction, before the duplicate is deleted."""
    ours = Membership.objects.filter(lead_id=survivor_id, ended_at__isnull=True).first()
    theirs = Membership.objects.filter(lead_id=duplicate_id, ended_at__isnull=True).first()
    if ours is not None and theirs is not None:
        loser = ours if RANK[theirs.source] > RANK[ours.source] else theirs
        loser.ended_at = at
        loser.save(update_fields=["ended_at"])
    Membership.objects.filter(lead_id=duplicate_id).update(lead_id=survivor_id)
    accounts_mark([m.account_id for m in (ours, theirs) if m is not None])


@transaction.atomic
def member_set_role(*, lead_id: int, role: str, actor: User | None) -> Membership:
    if role not in BuyingRole.values:
        raise ValidationError(
            {"role": _("Unknown role %(role)s; use %(valid)s.")
             % {"role": role, "valid": ", ".join(BuyingRole.values)}}
        )  # fmt: skip
    member = (
        Membership.objects.select_for_update()
        .filter(lead_id=lead_id, ended_at__isnull=True, account__isnull=False)
        .first()
    )
    if member is None:
        raise AccountError(_("Lead %(id)s belongs to no account.") % {"id": lead_id}, field="lead")
    changed = member.role != role
    member.role, member.role_source = role, Membership.RoleSource.PERSON
    member.save(update_fields=["role", "role_source"])
    if changed:
        accounts_mark([member.account_id])
    return member


# --- merge -----------------------------------------------------------------------------------


@transaction.atomic
def account_merge(
    *, survivor_id: int, duplicate_id: int, keep_owner_of: int, actor: User | None
) -> Account:
    """Fold ``duplicate_id`` into ``survivor_id``: its members (current and past), domains,
    subsidiaries and traits (the survivor's win) move; the owner is ``keep_owner_of``'s (one of
    the two, decided by the person). The duplicate is deleted; the audit row keeps its data."""
    if survivor_id == duplicate_id:
        raise ValidationError({"duplicate": _("An account cannot be merged into itself.")})
    if keep_owner_of not in (survivor_id, duplicate_id):
        raise ValidationError({"keep_owner_of": _("Choose the owner of one of the two accounts.")})
    first, second = sorted((survivor_id, duplicate_id))  # lock in id order: no deadlock
    locked = {a.pk: a for a in Account.objects.select_for_update().filter(pk__in=[first, second])}
    if survivor_id not in locked:
        raise AccountError(
            _("No account has the id %(id)s.") % {"id": survivor_id}, field="survivor"
        )
    if duplicate_id not in locked:
        raise AccountError(
            _("No account has the id %(id)s.") % {"id": duplicate_id}, field="duplicate"
        )
    survivor, duplicate = locked[survivor_id], locked[duplicate_id]
    node = survivor
    while node.parent_id is not None:
        if node.parent_id == duplicate_id:  # the survivor sits under the duplicate
            survivor.parent_id = duplicate.parent_id if duplicate.parent_id != survivor.pk else None
            break
        node = node.parent  # type: ignore[assignment]
    snapshot = {
        "name": duplicate.name,
        "external_id": duplicate.external_id,
        "domains": list(duplicate.domains.values_list("domain", flat=True)),
        "owner": duplicate.owner_id,
        "traits": duplicate.traits,
    }
    account_merging.send(
        Account, survivor_id=survivor_id, duplicate_id=duplicate_id, now=timezone.now()
    )
    # a lead current in both can't happen (one current membership per lead); move every row
    moved = Membership.objects.filter(account=duplicate).update(account=survivor)
    AccountDomain.objects.filter(account=duplicate, is_primary=True).update(is_primary=False)
    AccountDomain.objects.filter(account=duplicate).update(account=survivor)
    Account.objects.filter(parent=duplicate).exclude(pk=survivor.pk).update(parent=survivor)
    survivor.traits = {**duplicate.traits, **survivor.traits}
    if keep_owner_of == duplicate_id:
        survivor.owner_id, survivor.team_id = duplicate.owner_id, duplicate.team_id
    for name in ("industry", "size_band", "country", "tier"):
        if not getattr(survivor, name):
            setattr(survivor, name, getattr(duplicate, name))
    external_id = survivor.external_id or duplicate.external_id
    duplicate.delete()
    survivor.external_id = external_id
    survivor.save()
    accounts_mark([survivor.pk])  # its members and perhaps fit fields changed
    audit_record(
        action="account.merged",
        actor=actor,
        target_type="account",
        target_id=survivor.pk,
        details={"duplicate_id": duplicate_id, "duplicate": snapshot, "memberships_moved": moved},
    )
    return survivor
