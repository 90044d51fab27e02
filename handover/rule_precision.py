"""Counts for scoring's rule precision (``scoring.precision``): the handovers opened since a
moment, how they ended, and the same for those whose lead carried each rule's points."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q

from handover.models import Handover, HandoverRuleHit
from leads.lifecycle import Stage
from leads.models import StageChange
from scoring.precision import Outcomes


def _reached(stage: Stage, prefix: str) -> Exists:
    """The lead entered ``stage`` at or after its handover opened (the stage log's index)."""
    return Exists(
        StageChange.objects.filter(
            lead_id=OuterRef(f"{prefix}lead_id"),
            to_stage=stage,
            changed_at__gte=OuterRef(f"{prefix}opened_at"),
        )
    )


def _counts(prefix: str) -> dict[str, Any]:
    status = f"{prefix}status"
    return {
        "handovers": Count("pk"),
        "decided": Count(
            "pk",
            filter=Q(**{f"{status}__in": (Handover.Status.ACCEPTED, Handover.Status.REJECTED)}),
        ),
        "accepted": Count("pk", filter=Q(**{status: Handover.Status.ACCEPTED})),
        "sql": Count("pk", filter=_reached(Stage.SQL, prefix)),
        "won": Count("pk", filter=_reached(Stage.CUSTOMER, prefix)),
    }


def rule_outcomes(
    keys: Sequence[uuid.UUID], since: datetime
) -> tuple[dict[uuid.UUID, Outcomes], Outcomes]:
    total = Handover.objects.filter(opened_at__gte=since).aggregate(**_counts(""))
    rows = (
        HandoverRuleHit.objects.filter(rule_key__in=keys, handover__opened_at__gte=since)
        .values("rule_key")
        .annotate(**_counts("handover__"))
        .order_by()
    )
    by_key = {r.pop("rule_key"): Outcomes(**r) for r in rows}
    return by_key, Outcomes(**total)
