"""Counts for scoring's rule precision (``scoring.precision``): the handovers opened since a
moment, how they ended, and the same for those whose lead carried each rule's points."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, Q

from handover.models import Handover, HandoverRuleHit
from scoring.precision import Outcomes


def _counts(prefix: str) -> dict[str, Any]:
    status = f"{prefix}status"
    return {
        "handovers": Count("pk"),
        "decided": Count(
            "pk",
            filter=Q(**{f"{status}__in": (Handover.Status.ACCEPTED, Handover.Status.REJECTED)}),
        ),
        "accepted": Count("pk", filter=Q(**{status: Handover.Status.ACCEPTED})),
        "sql": Count("pk", filter=Q(**{f"{prefix}reached_sql_at__isnull": False})),
        "won": Count("pk", filter=Q(**{f"{prefix}won_at__isnull": False})),
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
