"""Audit rows and in-transaction hooks for lead events.

``stage_changed`` is sent *inside* the transaction that moves the lead, after the StageChange row
is written: receivers (handover opens a handover, webhooks write outbox rows) write their rows in
that same transaction, so a stage change and its consequences commit or roll back together.
Receivers must only write rows; anything slow or external goes through ``transaction.on_commit``.
This keeps ``leads`` free of imports from the apps that react to it.
"""

from datetime import datetime

from django.dispatch import Signal

from leadflow import batchscope
from leadflow.models import User
from leads.lifecycle import ActorKind, Stage
from leads.models import Lead, StageChange

# kwargs: lead, change (StageChange), actor (user or None)
stage_changed = Signal()

# kwargs: lead (locked, still in its old stage), to (Stage), actor, actor_kind. Sent inside the
# transaction after the lifecycle table allowed the move; a receiver vetoes by raising a
# DomainError (e.g. handover: SAL -> SQL needs a passed qualification checklist).
stage_change_requested = Signal()

# kwargs: field (CustomField, locked). Sent inside the transaction before a custom field and its
# values are deleted; a receiver vetoes by raising a DomainError (scoring: a rule uses it).
custom_field_delete_requested = Signal()


def stage_change_recorded(
    *,
    lead: Lead,
    from_stage: Stage | None,
    to: Stage,
    actor: User | None,
    actor_kind: ActorKind,
    source: str,
    reason: str,
    at: datetime,
    reason_code: str = "",
) -> StageChange:
    """Append the change with the lead's owner, team and source, and send ``stage_changed``.

    A receiver may assign the lead as a consequence of the move (handover: entering MQL), and
    that assignment is what was in force "then". So the row takes the lead's values once the
    receivers are done: an UPDATE of the row this transaction just wrote, before anyone can read
    it. In a batch scope one UPDATE for the batch, deferred before the rollup's refresh is (the
    scope flushes in the order first deferred, and the reports receiver defers only when it
    receives ``stage_changed``, sent below); outside one, ``stage_log_rewritten`` makes the
    rollup read the row again."""
    change = StageChange.objects.create(
        lead=lead,
        from_stage=from_stage.value if from_stage else "",
        to_stage=to.value,
        actor=actor if actor is not None and actor.pk else None,
        actor_kind=actor_kind.value,
        source=source,
        reason=reason[:500],
        reason_code=reason_code,
        changed_at=at,
        **dims_of(lead),
    )
    deferred = batchscope.defer("leads.stage_dims", _dims_settle, (change, lead))
    stage_changed.send(sender=Lead, lead=lead, change=change, actor=actor)
    if not deferred and _dims_settle([(change, lead)]):
        stage_log_rewritten.send(sender=Lead, lead_ids=[lead.pk])
    return change


def _dims_settle(items: list[tuple[StageChange, Lead]]) -> list[StageChange]:
    """Give each change its lead's values now if a receiver changed them; returns those."""
    changed = []
    for change, lead in items:
        after = dims_of(lead)
        if any(getattr(change, name) != value for name, value in after.items()):
            for name, value in after.items():
                setattr(change, name, value)
            changed.append(change)
    if changed:
        StageChange.objects.bulk_update(
            changed, ["owner", "team", "lead_source", "value", "currency"]
        )
    return changed


def dims_of(lead: Lead) -> dict[str, object]:
    """What a StageChange records of the lead as it is now: its owner, team and source (the
    report dimensions) and its deal's expected value and currency."""
    return {
        "owner_id": lead.owner_id,
        "team_id": lead.team_id,
        "lead_source": lead.source,
        "value": lead.expected_value,
        "currency": lead.currency,
    }


# kwargs: lead_ids (list[int]) — sent inside the transaction that stored new activities.
activities_recorded = Signal()


# kwargs: fields (the cleaned fields of a lead about to be created), actor, source. Sent inside
# lead_create's transaction before the row is written; a receiver vetoes by raising a DomainError
# (privacy: identifiers of an erased person are blocklisted and may not come back).
lead_create_requested = Signal()
# kwargs: fields (the identifiers — email, external_id, phone — an update of lead_id is about to
# set to a new value), lead_id, actor. Sent inside lead_update's transaction before the row is
# written; a receiver vetoes by raising a DomainError, as for lead_create_requested.
lead_identifiers_requested = Signal()
# kwargs: lead_ids (list[int]) — sent inside the transaction of a bulk path that wrote or moved
# StageChange rows without stage_change_recorded (COPY imports, merges re-pointing a lead's log),
# so that readers of the log that keep rollups (reports) refresh those leads.
stage_log_rewritten = Signal()
# kwargs: lead_ids (list[int]) — sent inside the transaction that gave leads a new e-mail domain
# (created with one, or an edit that changed it); ``companies`` links them to the account that
# holds the domain (a link from a stronger source stays).
lead_domains_set = Signal()
# kwargs: lead_ids (list[int]) — sent inside the transaction that changed leads' job title or
# seniority; ``companies`` re-derives their buying-group role (unless a person set it).
lead_titles_set = Signal()
# kwargs: lead_id, group_id (str), traits (dict), public (bool: a browser key sent it), at. Sent
# inside the transaction of a Segment ``group`` call applied to the lead; ``companies`` links the
# lead to the account with that external id.
group_applied = Signal()
