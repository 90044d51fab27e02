"""Account handovers: a marketing-qualified account (MQA) handed to its owner, as a lead's
handover is — opened in the transaction that scored the account past the threshold, with an SLA
deadline from the MQL policy (the same "time to accept" a lead gets), in-app and e-mail
notifications and webhook events through the outbox, accepted or rejected with a reason by its
owner, a manager of its team or an admin (``handover.permissions.may_decide``).

The deadline is a column (``due_at``, ``warn_at``, ``next_action_at``) that the SLA scan claims
with ``SELECT … FOR UPDATE SKIP LOCKED``: a warning to the owner before it, a breach to the owner
and the team's manager (and ``account.sla_breached``) at it. Nothing is reassigned: who owns an
account is a manager's decision, not a timer's.
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from companies.events import QualifiedAccount
from companies.models import Account, Membership
from handover import sla
from handover.models import AccountHandover, EventType
from handover.outbox import OutboxBatch
from handover.permissions import may_decide
from handover.services import (
    HandoverAlreadyDecidedError,
    NotHandoverOwnerError,
    rejection_reason_for,
    team_managers,
)
from leadflow.audit import audit_record
from leadflow.exceptions import NotFoundError
from leadflow.models import User
from leads.lifecycle import Stage

logger = logging.getLogger(__name__)


class AccountHandoverNotFoundError(NotFoundError):
    code = "account_handover_not_found"


def _link(account_id: int) -> str:
    return f"{settings.SITE_URL}{reverse('companies:detail', args=[account_id])}"


def account_data(account: Account, handover: AccountHandover, **extra: Any) -> dict[str, Any]:
    """The account and its handover as webhook payloads show them."""
    return {
        "account": {
            "id": account.pk,
            "name": account.name,
            "external_id": account.external_id,
            "tier": account.tier,
            "owner_id": account.owner_id,
            "team_id": account.team_id,
        },
        "handover": {
            "id": handover.pk,
            "status": handover.status,
            "owner_id": handover.owner_id,
            "team_id": handover.team_id,
            "score": handover.score,
            "grade": handover.grade,
            "why": handover.why,
            "opened_at": handover.opened_at,
            "due_at": handover.due_at,
            "decided_at": handover.decided_at,
            "reason_code": handover.rejection_reason.code if handover.rejection_reason else None,
            "comment": handover.comment,
        },
        **extra,
    }


def _recipients(owner_id: int | None, team_id: int | None, *, managers: bool) -> list[int]:
    """The owner; with ``managers`` (or without an owner) the team's manager too."""
    found = [owner_id] if owner_id else []
    if managers or not found:
        found += [pk for pk, _reader in team_managers(team_id) if pk not in found]
    return found


def _top_sources(account_ids: Sequence[int]) -> dict[int, str]:
    """Per account, the lead source of the current member with the most engagement (the MQA's
    source; members without a source are passed over). One query for all the accounts."""
    first = Window(
        RowNumber(),
        partition_by=F("account_id"),
        order_by=[F("lead__engagement_score").desc(), F("lead_id").asc()],
    )
    rows = (
        Membership.objects.filter(account_id__in=account_ids, ended_at__isnull=True)
        .exclude(lead__source="")
        .annotate(n=first)
        .filter(n=1)
        .values_list("account_id", "lead__source")
    )
    return dict(rows)


def handovers_open(*, accounts: Sequence[QualifiedAccount], now: datetime) -> list[AccountHandover]:
    """The accounts just became MQA (inside the scoring transaction): a handover for each, in a
    few statements whatever their number (a sweep batch may qualify hundreds). An account that
    has one open already keeps it (and whoever has it); a deleted one is passed over."""
    qualified = {q.account_id: q for q in accounts}
    locked = (
        Account.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(qualified))
        .order_by("pk")  # the order every writer locks accounts in
    )
    found = {account.pk: account for account in locked}
    busy = set(
        AccountHandover.objects.filter(
            account_id__in=found, status=AccountHandover.Status.OPEN
        ).values_list("account_id", flat=True)
    )
    to_open = [account for pk, account in found.items() if pk not in busy]
    if not to_open:
        return []
    owners = {a.owner_id for a in to_open if a.owner_id}
    active = set(
        User.objects.filter(pk__in=owners, is_active=True).values_list("pk", flat=True)
        if owners
        else ()
    )
    # the MQL policy's "time to accept" (None: no SLA, nothing to scan)
    _policy, due, warn = sla.deadline(Stage.MQL, now) or (None, None, None)
    sources = _top_sources([a.pk for a in to_open])
    opened = AccountHandover.objects.bulk_create(
        AccountHandover(
            account=account,
            owner_id=account.owner_id if account.owner_id in active else None,
            team_id=account.team_id,
            opened_at=now,
            score=qualified[account.pk].score,
            grade=qualified[account.pk].grade,
            why=qualified[account.pk].reason[:200],
            tier=account.tier,
            source=sources.get(account.pk, "")[:100],
            warn_at=warn,
            due_at=due,
            next_action_at=min(warn, due) if warn and due else due,
        )
        for account in to_open
    )
    batch = OutboxBatch(now=now)
    for handover in opened:
        account = handover.account
        text = partial(
            _opened_text,
            name=account.name,
            score=handover.score,
            owned=handover.owner_id is not None,
        )
        for recipient in _recipients(handover.owner_id, account.team_id, managers=False):
            batch.notify(
                recipient_id=recipient, kind="account.mqa", text=text, link=_link(account.pk)
            )
        batch.event(EventType.ACCOUNT_MQA, account_data(account, handover))
    batch.flush()
    return opened


def _opened_text(*, name: str, score: int, owned: bool) -> tuple[str, str]:
    if owned:
        title = _("Account to accept: %(name)s is marketing-qualified") % {"name": name}
    else:
        title = _("Unowned account is marketing-qualified: %(name)s") % {"name": name}
    body = _(
        "%(name)s reached an account score of %(score)s. Accept it to work the account, or "
        "reject it with a reason."
    ) % {"name": name, "score": score}
    return title, body


def _locked(handover_id: int) -> AccountHandover:
    """Lock the account, then its handover (the order the scoring transaction takes them)."""
    account_id = (
        AccountHandover.objects.filter(pk=handover_id).values_list("account_id", flat=True).first()
    )
    if account_id is None:
        raise AccountHandoverNotFoundError(
            _("There is no account handover with id %(id)s.") % {"id": handover_id}
        )
    Account.objects.select_for_update(no_key=True).filter(pk=account_id).first()
    return (
        AccountHandover.objects.select_for_update(of=("self",))
        .select_related("account", "rejection_reason")
        .get(pk=handover_id)
    )


def _ensure_open_and_may_decide(handover: AccountHandover, actor: User) -> None:
    if handover.status != AccountHandover.Status.OPEN:
        raise HandoverAlreadyDecidedError(
            _("This account handover is already %(status)s.")
            % {"status": handover.get_status_display().lower()},
            field="status",
        )
    if not may_decide(actor, handover):
        raise NotHandoverOwnerError(
            _("Only the account's owner, its team's queue or a manager of its team may decide it.")
        )


def _decided(handover: AccountHandover, actor: User, status: str, now: datetime) -> None:
    handover.status, handover.decided_at, handover.decided_by = status, now, actor
    handover.next_action_at = None
    if handover.owner_id is None:  # taken from the queue: the taker owns it
        handover.owner = actor


@transaction.atomic
def handover_accept(*, handover_id: int, actor: User) -> AccountHandover:
    """The owner takes the account on. Concurrent decisions: one wins, the rest get 409."""
    handover = _locked(handover_id)
    _ensure_open_and_may_decide(handover, actor)
    now = timezone.now()
    _decided(handover, actor, AccountHandover.Status.ACCEPTED, now)
    handover.save(update_fields=["status", "decided_at", "decided_by", "next_action_at", "owner"])
    account = handover.account
    if account.owner_id is None:
        Account.objects.filter(pk=account.pk).update(owner=actor)
        account.owner_id = actor.pk
    audit_record(
        action="account.handover_accepted",
        actor=actor,
        target_type="account",
        target_id=account.pk,
        details={"handover_id": handover.pk},
    )
    batch = OutboxBatch(now=now)
    batch.event(EventType.ACCOUNT_HANDOVER_ACCEPTED, account_data(account, handover))
    batch.flush()
    return handover


@transaction.atomic
def handover_reject(
    *, handover_id: int, actor: User, reason_code: str, comment: str = ""
) -> AccountHandover:
    """Reject with a configured reason (the lead-side list; its route is the leads' business,
    not the account's: the members stay where they are). The account re-arms when its score
    falls below the threshold."""
    comment = comment.strip()
    reason = rejection_reason_for(reason_code, comment)
    handover = _locked(handover_id)
    _ensure_open_and_may_decide(handover, actor)
    now = timezone.now()
    _decided(handover, actor, AccountHandover.Status.REJECTED, now)
    handover.rejection_reason, handover.comment = reason, comment
    handover.save(
        update_fields=[
            "status",
            "decided_at",
            "decided_by",
            "next_action_at",
            "owner",
            "rejection_reason",
            "comment",
        ]
    )
    audit_record(
        action="account.handover_rejected",
        actor=actor,
        target_type="account",
        target_id=handover.account_id,
        details={"handover_id": handover.pk, "reason": reason.code, "comment": comment},
    )
    batch = OutboxBatch(now=now)
    batch.event(EventType.ACCOUNT_HANDOVER_REJECTED, account_data(handover.account, handover))
    batch.flush()
    return handover


def handovers_fold(*, survivor_id: int, duplicate_id: int, now: datetime) -> None:
    """Account merge: the duplicate's handovers move to the survivor (its MQA history stays);
    of two open ones the survivor's stays open and the duplicate's is cancelled."""
    theirs = AccountHandover.objects.filter(account_id=duplicate_id)
    if AccountHandover.objects.filter(
        account_id=survivor_id, status=AccountHandover.Status.OPEN
    ).exists():
        theirs.filter(status=AccountHandover.Status.OPEN).update(
            status=AccountHandover.Status.CANCELLED, decided_at=now, next_action_at=None
        )
    theirs.update(account_id=survivor_id)


# --- the SLA scan ----------------------------------------------------------------------------


def _claim(now: datetime, limit: int) -> list[AccountHandover]:
    due = AccountHandover.objects.filter(
        status=AccountHandover.Status.OPEN, next_action_at__lte=now
    ).order_by("next_action_at")
    if connection.vendor == "postgresql":
        due = due.select_for_update(skip_locked=True, of=("self",))
    return list(due.select_related("account")[:limit])


def sla_scan(*, now: datetime | None = None, limit: int = 500) -> int:
    """Fire the due warnings and breaches of open account handovers, one transaction per
    batch; returns how many fired. Each firing is a conditional step (``warned_at`` /
    ``breached_at`` written once), so a handover claimed twice fires once."""
    now = now or timezone.now()
    fired = 0
    while True:
        with transaction.atomic():
            claimed = _claim(now, limit)
            if not claimed:
                return fired
            batch = OutboxBatch(now=now)
            for handover in claimed:
                fired += _fire(handover, now, batch)
            batch.flush()
        if len(claimed) < limit:
            return fired


def _fire(handover: AccountHandover, now: datetime, batch: OutboxBatch) -> int:
    account = handover.account
    link = _link(account.pk)
    breach = handover.due_at is not None and handover.due_at <= now
    if breach:
        handover.breached_at = handover.breached_at or now
        handover.warned_at = handover.warned_at or now
        handover.next_action_at = None
        text = partial(_breach_text, name=account.name)
        for recipient in _recipients(handover.owner_id, handover.team_id, managers=True):
            batch.notify(recipient_id=recipient, kind="account.sla_breached", text=text, link=link)
        batch.event(EventType.ACCOUNT_SLA_BREACHED, account_data(account, handover))
    else:
        handover.warned_at = now
        handover.next_action_at = handover.due_at
        text = partial(_warning_text, name=account.name, due=handover.due_at)
        for recipient in _recipients(handover.owner_id, handover.team_id, managers=False):
            batch.notify(recipient_id=recipient, kind="account.sla_warning", text=text, link=link)
    AccountHandover.objects.filter(pk=handover.pk).update(
        warned_at=handover.warned_at,
        breached_at=handover.breached_at,
        next_action_at=handover.next_action_at,
    )
    return 1


def _warning_text(*, name: str, due: datetime | None) -> tuple[str, str]:
    title = _("Account waiting for you: %(name)s") % {"name": name}
    when = timezone.localtime(due).strftime("%Y-%m-%d %H:%M") if due else ""
    return title, _("Accept or reject %(name)s before %(when)s.") % {"name": name, "when": when}


def _breach_text(*, name: str) -> tuple[str, str]:
    title = _("Overdue account: %(name)s was not accepted in time") % {"name": name}
    return title, _("%(name)s became marketing-qualified and nobody decided it in time.") % {
        "name": name
    }


def open_handovers(account_ids: Sequence[int]) -> dict[int, AccountHandover]:
    """The open handover of each account that has one."""
    return {
        h.account_id: h
        for h in AccountHandover.objects.filter(
            Q(account_id__in=list(account_ids)) & Q(status=AccountHandover.Status.OPEN)
        ).select_related("owner")
    }
