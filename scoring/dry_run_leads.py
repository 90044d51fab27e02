"""A dry run's named leads: who the draft would move into or out of MQL (``DryRunLead``).

The run stores its movers batch by batch and, once its leads are done, sends
``dry_run_leads_done`` inside its last batch's transaction: ``handover`` (which scoring does not
import) routes the entering leads through the assignment rules without writing an assignment,
and adds each rep's inbox load and SLA exposure to ``run.result["routing"]``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.dispatch import Signal

from leads.models import Lead
from scoring.models import DryRunLead


@dataclass(frozen=True)
class Mover:
    """A lead the draft would move into or out of MQL that the published model would not."""

    lead_id: int
    move: str  # DryRunLead.Move
    score_before: int
    score_after: int


# kwargs: run (ScoringRun, its leads evaluated), now (the moment the run evaluated)
dry_run_leads_done = Signal()


def movers_reset(*, run_id: int) -> None:
    DryRunLead.objects.filter(run_id=run_id).delete()


def movers_add(*, run_id: int, movers: Sequence[Mover]) -> int:
    """Store a batch's movers with their lead source (one read for the batch)."""
    if not movers:
        return 0
    sources = dict(
        Lead.objects.filter(pk__in=[m.lead_id for m in movers]).values_list("pk", "source")
    )
    rows = DryRunLead.objects.bulk_create(
        DryRunLead(
            run_id=run_id,
            lead_id=m.lead_id,
            move=m.move,
            score_before=m.score_before,
            score_after=m.score_after,
            source=sources.get(m.lead_id, ""),
        )
        for m in movers
        if m.lead_id in sources  # deleted since it was evaluated
    )
    return len(rows)


def movers(
    *,
    run_id: int,
    move: str = "",
    source: str | None = None,
    owner_id: int | None = None,
    queue: bool = False,
) -> QuerySet[DryRunLead]:
    """The run's named leads, in lead id order, filtered (``queue``: routed to no one)."""
    qs = DryRunLead.objects.filter(run_id=run_id)
    if move:
        qs = qs.filter(move=move)
    if source is not None:
        qs = qs.filter(source=source)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if queue:
        qs = qs.filter(move=DryRunLead.Move.ENTER, routed=True, owner_id__isnull=True)
    return qs.order_by("lead_id")


def by_source(*, run_id: int) -> list[dict[str, Any]]:
    """How many would enter and leave MQL, per lead source (most movement first)."""
    rows = (
        DryRunLead.objects.filter(run_id=run_id)
        .values("source")
        .annotate(
            enter=Count("pk", filter=Q(move=DryRunLead.Move.ENTER)),
            leave=Count("pk", filter=Q(move=DryRunLead.Move.LEAVE)),
        )
        .order_by()
    )
    return sorted(
        ({"source": r["source"], "enter": r["enter"], "leave": r["leave"]} for r in rows),
        key=lambda r: (-(r["enter"] + r["leave"]), r["source"]),
    )
