"""Reactions to lead events, inside the transaction that moved the lead.

Whoever moves a lead (scoring, a marketer, an integration, the board), a lead entering MQL gets
a handover and an SLA clock, leaving a stage stops its clock, and webhook outbox rows are
written — all in the moving transaction, so they commit or roll back with the move.
"""

from datetime import datetime
from typing import Any

from companies.events import QualifiedAccount
from companies.models import Account, Membership
from handover import account_handovers, routing_preview, rule_precision, services, sla
from handover.models import EventType, Handover
from handover.outbox import OutboxBatch, lead_snapshot, webhooks_want
from leadflow.models import User
from leads.lifecycle import ActorKind, Stage
from leads.models import Lead, StageChange
from scoring.models import ScoringRun


def on_stage_changed(
    sender: type[Lead], *, lead: Lead, change: StageChange, actor: User | None, **kwargs: Any
) -> None:
    now = change.changed_at
    batch = OutboxBatch(now=now)
    from_stage, to_stage = change.from_stage, change.to_stage
    if from_stage:
        sla.timers_stop(lead_id=lead.pk, stage=from_stage, now=now)
    if from_stage == Stage.MQL:
        # Left MQL some other way than accept/reject (a marketer recycled it, ...): close it.
        # (Rule precision does not count cancelled handovers as decided: no mark.)
        Handover.objects.filter(lead=lead, status=Handover.Status.OPEN).update(
            status=Handover.Status.CANCELLED, decided_at=now, decided_by=actor
        )
    batch.event(
        EventType.LEAD_STAGE_CHANGED,
        {
            "lead": lead_snapshot(lead),
            "from_stage": from_stage or None,
            "to_stage": to_stage,
            "reason": change.reason,
            "source": change.source,
            "actor_id": change.actor_id,
            "actor_kind": change.actor_kind,
            "changed_at": now,
        },
    )
    if to_stage == Stage.MQL:
        batch.event(EventType.LEAD_MQL, {"lead": lead_snapshot(lead), "changed_at": now})
        services.handover_open(lead=lead, now=now, batch=batch)
    elif to_stage in (Stage.SAL, Stage.SQL):
        sla.timer_start(lead_id=lead.pk, stage=Stage(to_stage), owner_id=lead.owner_id, now=now)
    reached = {Stage.SQL: "reached_sql_at", Stage.CUSTOMER: "won_at"}.get(Stage(to_stage))
    if reached:  # the outcome of every handover of the lead that had not reached it yet
        rule_precision.mark_changing(
            Handover.objects.filter(lead=lead, opened_at__lte=now, **{f"{reached}__isnull": True})
        ).update(**{reached: now})
    batch.flush()


def on_stage_change_requested(
    sender: type[Lead],
    *,
    lead: Lead,
    to: Stage,
    actor: User | None,
    actor_kind: ActorKind,
    **kwargs: Any,
) -> None:
    if to == Stage.SQL:
        services.ensure_qualified(lead=lead)


def on_dry_run_leads_done(sender: Any, *, run: ScoringRun, now: datetime, **kwargs: Any) -> None:
    """A dry run's leads are evaluated: route the new MQLs it names (nothing is assigned)."""
    run.result["routing"] = routing_preview.dry_run_route(run_id=run.pk, now=now)


def on_accounts_qualified(
    sender: Any, *, accounts: list[QualifiedAccount], now: datetime, **kwargs: Any
) -> None:
    account_handovers.handovers_open(accounts=accounts, now=now)


def on_members_added(
    sender: Any, *, pairs: list[tuple[int, int]], source: str, now: datetime, **kwargs: Any
) -> None:
    """``account.member_added`` for each new member, if a subscription wants it (a backfill
    links thousands: nothing is read for them unless someone listens)."""
    if not pairs or not webhooks_want(EventType.ACCOUNT_MEMBER_ADDED):
        return
    # only the links that went in (a bulk match skips a lead a concurrent link took)
    pairs = list(
        Membership.objects.filter(
            lead_id__in=[lead_id for _a, lead_id in pairs],
            ended_at__isnull=True,
            source=source,
            started_at=now,
        ).values_list("account_id", "lead_id")
    )
    accounts = {
        a["id"]: a
        for a in Account.objects.filter(pk__in={a for a, _l in pairs}).values(
            "id", "name", "external_id", "tier", "owner_id", "team_id"
        )
    }
    leads = Lead.objects.in_bulk([lead_id for _a, lead_id in pairs])
    batch = OutboxBatch(now=now)
    for account_id, lead_id in pairs:
        if account_id in accounts and lead_id in leads:
            batch.event(
                EventType.ACCOUNT_MEMBER_ADDED,
                {
                    "account": accounts[account_id],
                    "lead": lead_snapshot(leads[lead_id]),
                    "source": source,
                    "added_at": now,
                },
            )
    batch.flush()


def on_account_merging(
    sender: Any, *, survivor_id: int, duplicate_id: int, now: datetime, **kwargs: Any
) -> None:
    account_handovers.handovers_fold(survivor_id=survivor_id, duplicate_id=duplicate_id, now=now)


def on_handover_deleted(sender: type[Handover], *, instance: Handover, **kwargs: Any) -> None:
    """A handover deleted with its lead (erasure, retention) leaves rule precision's counts."""
    rule_precision.mark_opened([instance])
