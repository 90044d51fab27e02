from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from leadflow.api.auth import request_user
from leads.api.serializers import (
    ActivitySerializer,
    LeadSerializer,
    StageChangeSerializer,
    TransitionInputSerializer,
)
from leads.filtersets import LeadFilterSet
from leads.models import Lead, StageChange
from leads.permissions import HasPerm, Perm
from leads.selectors import lead_visible_qs, stage_history
from leads.services import lead_create, lead_move, lead_update


class LeadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Lead],
):
    serializer_class = LeadSerializer
    filterset_class = LeadFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_permissions(self) -> list[Any]:
        needed = {
            "create": Perm.ADD_LEAD,
            "partial_update": Perm.CHANGE_LEAD,
            "transition": Perm.MOVE_STAGE,
        }.get(self.action or "", Perm.VIEW_LEAD)
        return [IsAuthenticated(), HasPerm.of(needed)()]

    queryset = Lead.objects.none()  # for the schema generator; requests use get_queryset

    def get_queryset(self) -> QuerySet[Lead]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return lead_visible_qs(user=request_user(self.request)).select_related("owner")

    def perform_create(self, serializer: LeadSerializer) -> None:  # type: ignore[override]
        serializer.instance = lead_create(
            data=serializer.validated_data, actor=request_user(self.request), source="api"
        )

    def perform_update(self, serializer: LeadSerializer) -> None:  # type: ignore[override]
        assert serializer.instance is not None  # noqa: S101  (set by get_object)
        serializer.instance = lead_update(
            lead_id=serializer.instance.pk,
            data=serializer.validated_data,
            actor=request_user(self.request),
        )

    @extend_schema(responses=ActivitySerializer(many=True))
    @action(detail=True, methods=["get"])
    def activities(self, request: Request, pk: str) -> Response:
        lead = self.get_object()
        page = self.paginate_queryset(lead.activities.order_by("-id"))  # type: ignore[arg-type]
        return self.get_paginated_response(ActivitySerializer(page, many=True).data)

    @extend_schema(responses=StageChangeSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def history(self, request: Request, pk: str) -> Response:
        changes: QuerySet[StageChange] = stage_history(lead=self.get_object())
        return Response(StageChangeSerializer(changes, many=True).data)

    @extend_schema(request=TransitionInputSerializer, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str) -> Response:
        lead = self.get_object()  # 404 for leads the caller cannot see
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = lead_move(
            lead_id=lead.pk,
            to=data.validated_data["to"],
            reason=data.validated_data["reason"],
            actor=request_user(request),
            source="api",
        )
        code = status.HTTP_200_OK
        return Response(LeadSerializer(result.lead).data, status=code)
