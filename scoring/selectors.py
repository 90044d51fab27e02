"""Reads of the scoring app. ``score_breakdown`` is a contract handover (and the UI) rely on."""

from typing import Any

from django.db.models import QuerySet

from scoring.models import LeadScore, ScoringModel, ScoringRule, ScoringRun


def score_breakdown(*, lead_id: int) -> dict[str, Any] | None:
    """Why a lead has its score: per rule, from the very evaluation that stored the score.

    JSON-serialisable; None when the lead has never been scored. The rules listed are those that
    counted something; ``points`` of all rules sum to ``score`` (fit rules to ``fit_score``,
    engagement rules to ``engagement_score``). ``decay`` is the points lost to time decay
    (``points - undecayed_points``, 0 without decay).
    """
    row = LeadScore.objects.select_related("model").filter(lead_id=lead_id).first()
    if row is None:
        return None
    rule_ids = [int(entry[0]) for entry in row.breakdown]
    rules = ScoringRule.objects.in_bulk(rule_ids)
    items = []
    for rule_id, count, points, undecayed in row.breakdown:
        rule = rules.get(int(rule_id))
        items.append(
            {
                "rule_id": int(rule_id),
                "name": rule.name if rule else f"rule {rule_id}",
                "kind": rule.kind if rule else "",
                "dimension": "fit" if rule is not None and rule.kind == "fit" else "engagement",
                "points": int(points),
                "count": int(count),
                "undecayed_points": int(undecayed),
                "decay": int(points) - int(undecayed),
                "per_event_points": rule.points if rule else None,
            }
        )
    return {
        "lead_id": lead_id,
        "model_id": row.model_id,
        "model_version": row.model.version,
        "model_name": row.model.name,
        "score": row.score,
        "fit_score": row.fit_score,
        "engagement_score": row.engagement_score,
        "grade": row.grade,
        "scored_at": row.scored_at.isoformat(),
        "mql_armed": row.mql_armed,
        "rules": items,
    }


def model_list() -> QuerySet[ScoringModel]:
    return ScoringModel.objects.prefetch_related("rules")


def published_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(status=ScoringModel.Status.PUBLISHED).first()


def run_list() -> QuerySet[ScoringRun]:
    return ScoringRun.objects.select_related("model")
