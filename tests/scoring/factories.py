"""Scoring models built through the services (so every test model passed validation)."""

from typing import Any

from scoring import services
from scoring.models import ScoringModel


def make_model(
    rules: list[dict[str, Any]], *, publish: bool = True, **settings: Any
) -> ScoringModel:
    data = {
        "name": "test model",
        "lead_fit_threshold": 1000,
        "mql_threshold": 1000,
        "mql_min_grade": "D",
        **settings,
    }
    model = services.model_create(data=data)
    for i, rule in enumerate(rules):
        services.rule_create(model_id=model.pk, data={"name": f"rule {i}", **rule})
    if publish:
        services.model_publish(model_id=model.pk)
        model.refresh_from_db()
    return model


def activity_rule(kind: str, points: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "activity", "activity_kind": kind, "points": points, **extra}


def fit_rule(field: str, op: str, value: Any, points: int) -> dict[str, Any]:
    return {"kind": "fit", "field": field, "op": op, "value": value, "points": points}
