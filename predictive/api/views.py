from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadflow.api.auth import ReadWrite, request_user
from leadflow.apikeys import Scope
from leadflow.exceptions import DomainError, NotFoundError
from leadflow.jobs import job_fail_if_stale
from leads.selectors import lead_get_visible
from predictive.api.serializers import (
    LeadPredictionSerializer,
    PredictiveModelSerializer,
    TrainingRunSerializer,
    TrainInputSerializer,
    TrainQueuedSerializer,
)
from predictive.models import TrainingRun
from predictive.selectors import lead_prediction, model_list
from predictive.services import (
    predictive_check_data,
    predictive_training_again,
    predictive_training_cancel,
    predictive_training_start,
)

PREDICTIVE = ReadWrite(Scope.PREDICTIVE_READ, Scope.PREDICTIVE_WRITE)


def factor(item: tuple[str, float]) -> dict[str, object]:
    """One factor: the input and the calibrated log-odds it adds vs the reference lead."""
    return {"feature": item[0], "log_odds": round(item[1], 4)}


class NoModelError(DomainError):
    code = "predictive_no_model"


class CanViewModels(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user.has_perm("predictive.view_predictivemodel"))


class CanTrain(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user.has_perm("predictive.train_predictivemodel"))


class PredictiveModelViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Trained versions (newest first), with their metrics; ``train`` queues a new one."""

    serializer_class = PredictiveModelSerializer
    required_scopes = PREDICTIVE
    permission_classes = [IsAuthenticated, CanViewModels]
    queryset = model_list()

    @extend_schema(request=TrainInputSerializer, responses={202: TrainQueuedSerializer})
    @action(detail=False, methods=["post"], permission_classes=[IsAuthenticated, CanTrain])
    def train(self, request: Request) -> Response:
        data = TrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = data.validated_data.get("target")
        n, positive = predictive_check_data(target=target)  # refuses now, with the reason
        run = predictive_training_start(target=target, actor=request_user(request))
        # at least this many closed outcomes (exact when near the minimum)
        body = {"status": "queued", "run": run.pk, "closed_outcomes": n, "positive": positive}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class LeadPredictionViewSet(viewsets.ViewSet):
    """One lead's conversion probability, decile and top factors (see docs/predictive.md)."""

    permission_classes = [IsAuthenticated]
    serializer_class = LeadPredictionSerializer
    required_scopes = PREDICTIVE

    @extend_schema(
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses={
            200: LeadPredictionSerializer,
            409: OpenApiResponse(
                description="No predictive model has been trained yet (predictive_no_model)"
            ),
        },
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        lead = (  # a non-numeric id names no lead: 404, not a 500 from int()
            lead_get_visible(user=request.user, lead_id=int(pk))  # type: ignore[arg-type]
            if pk.isdigit()
            else None
        )
        if lead is None:
            raise NotFoundError(_("There is no lead with id %(id)s.") % {"id": pk}, field="lead")
        prediction = lead_prediction(lead=lead)
        if prediction is None:
            raise NoModelError(_("No predictive model has been trained yet."))
        body: dict[str, Any] = {
            "lead": lead.pk,
            "model_version": prediction.model.version,
            "target": prediction.model.target,
            "algorithm": prediction.model.algorithm,
            "probability": round(prediction.probability, 4),
            "stored_probability": prediction.stored_probability,
            "decile": prediction.decile,
            "base_log_odds": round(prediction.base, 4),
            "factors_up": [factor(f) for f in prediction.up],
            "factors_down": [factor(f) for f in prediction.down],
            "contributions": {k: round(v, 6) for k, v in prediction.contributions.items()},
            "values": prediction.values,
        }
        return Response(body)


class TrainingRunViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    """Training runs (newest first): status, phase, leads scored of total, the reason a run
    failed; ``cancel`` stops one, ``run-again`` restarts a failed or cancelled one."""

    serializer_class = TrainingRunSerializer
    required_scopes = PREDICTIVE
    permission_classes = [IsAuthenticated, CanViewModels]
    queryset = TrainingRun.objects.all()

    def get_object(self) -> TrainingRun:
        run: TrainingRun = super().get_object()
        return job_fail_if_stale(run)  # a dead worker's run shows failed

    def _control(self, request: Request, service: Any) -> Response:
        run = service(run_id=self.get_object().pk, actor=request_user(request), request=request)
        run.refresh_from_db()
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: TrainingRunSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsAuthenticated, CanTrain])
    def cancel(self, request: Request, pk: str) -> Response:
        return self._control(request, predictive_training_cancel)

    @extend_schema(request=None, responses={202: TrainingRunSerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path="run-again",
        permission_classes=[IsAuthenticated, CanTrain],
    )
    def run_again(self, request: Request, pk: str) -> Response:
        return self._control(request, predictive_training_again)
