"""Reads: versions, and one lead's probability, decile and factors."""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from leads.models import Lead
from predictive import features
from predictive.ml import decile_of, explain
from predictive.models import PredictiveModel
from predictive.services import active_model, load_model


def model_list() -> QuerySet[PredictiveModel]:
    return PredictiveModel.objects.defer("artefact")


@dataclass(frozen=True)
class LeadPrediction:
    model: PredictiveModel
    probability: float  # computed now from the lead's current features
    stored_probability: float | None  # Lead.conversion_probability from the last pass
    decile: int | None
    base: float
    up: list[tuple[str, float]]
    down: list[tuple[str, float]]
    contributions: dict[str, float]
    values: dict[str, object]


def lead_prediction(*, lead: Lead, top: int = 5) -> LeadPrediction | None:
    row = active_model()
    if row is None:
        return None
    model = load_model(row)
    frame = features.features_for([lead.pk], as_of=timezone.now())
    explanation = explain(model, frame)[0]
    up, down = explanation.top(top)
    values = {
        name: (None if value != value else value)  # NaN -> None  # noqa: PLR0124
        for name, value in frame.iloc[0][list(model.spec.names)].to_dict().items()
    }
    return LeadPrediction(
        model=row,
        probability=explanation.probability,
        stored_probability=lead.conversion_probability,
        decile=decile_of(explanation.probability, row.decile_edges),
        base=explanation.base,
        up=up,
        down=down,
        contributions=explanation.contributions,
        values=values,
    )
