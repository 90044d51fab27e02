"""Reactions to lead events, inside the transaction that moved the lead.

Whoever moves a lead (scoring, a marketer, an integration, the board), a lead entering MQL gets
a handover and an SLA clock, leaving a stage stops its clock, and webhook outbox rows are
written — all in the moving transaction, so they commit or roll back with the move.
"""

from typing import Any

from handover import services, sla
from handover.models import EventType, Handover
from handover.outbox import OutboxBatch, lead_snapshot
from leadflow.models import User
from leads.lifecycle import ActorKind, Stage
from leads.models import Lead, StageChange


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
