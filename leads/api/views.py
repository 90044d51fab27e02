from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from leadflow.api.auth import request_user
from leadflow.api.idempotency import IDEMPOTENCY_HEADER, IdempotentMixin
from leadflow.apikeys import Scope
from leads import tags as lead_tags
from leads.api.serializers import (
    ActivitySerializer,
    ConvertInputSerializer,
    DealInputSerializer,
    LeadSerializer,
    LifecycleInputSerializer,
    MarkSqlInputSerializer,
    ReasonRequiredInputSerializer,
    StageChangeSerializer,
    TagChangeSerializer,
    TransitionInputSerializer,
    WinInputSerializer,
    WinSerializer,
)
from leads.filtersets import LeadFilterSet
from leads.models import Lead, StageChange
from leads.permissions import HasPerm, Perm
from leads.selectors import lead_visible_qs, stage_history
from leads.services import (
    Transition,
    lead_convert,
    lead_deal_set,
    lead_disqualify,
    lead_mark_mql,
    lead_mark_sal,
    lead_mark_sql,
    lead_move,
    lead_qualify,
    lead_recycle,
    lead_update,
    lead_upsert,
    lead_win_add,
    lead_win_remove,
)

READ, WRITE = Scope.LEADS_READ.value, Scope.LEADS_WRITE.value
LIFECYCLE_ACTIONS: tuple[str, ...] = ("qualify", "mark_mql", "mark_sal", "mark_sql", "convert")
LIFECYCLE_ACTIONS += ("recycle", "disqualify", "transition")

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (≤255 chars): a retry with the same key replays the first "
    "response instead of acting twice. Kept 24 h, scoped to the API key.",
)
ERRORS = {
    400: OpenApiResponse(description="Invalid fields or a missing reason"),
    404: OpenApiResponse(description="No such lead, or not visible to the caller"),
    409: OpenApiResponse(
        description="Move not allowed (invalid_transition), or the lead is no longer in "
        "`expected_stage` (stale_lead: `stage`, `moved_by`, `moved_at` say where, who, when)"
    ),
    422: OpenApiResponse(description="Idempotency key reused with another body"),
}


class LeadViewSet(
    IdempotentMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Lead],
):
    """Leads: list (shared filters, cursor pages), upsert, update, history and lifecycle moves."""

    serializer_class = LeadSerializer
    filterset_class = LeadFilterSet
    ordering_fields = ("id", "created_at", "updated_at", "stage_changed_at")
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "activities": READ,
        "history": READ,
        "create": WRITE,
        "partial_update": WRITE,
        "tags": WRITE,
        "deal": WRITE,
        "wins": READ,
        "win_add": WRITE,
        "win_remove": WRITE,
        **dict.fromkeys(LIFECYCLE_ACTIONS, WRITE),
    }
    idempotent_actions = frozenset({"create", *LIFECYCLE_ACTIONS})

    def get_permissions(self) -> list[Any]:
        needed = {
            "create": Perm.ADD_LEAD,
            "partial_update": Perm.CHANGE_LEAD,
            "tags": Perm.CHANGE_LEAD,
            "deal": Perm.CHANGE_LEAD,
            "win_add": Perm.CHANGE_LEAD,
            "win_remove": Perm.CHANGE_LEAD,
            **dict.fromkeys(LIFECYCLE_ACTIONS, Perm.MOVE_STAGE),
        }.get(self.action or "", Perm.VIEW_LEAD)
        return [IsAuthenticated(), HasPerm.of(needed)()]

    queryset = Lead.objects.none()  # for the schema generator; requests use get_queryset

    def get_queryset(self) -> QuerySet[Lead]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        visible = lead_visible_qs(user=request_user(self.request))
        return visible.select_related("owner").prefetch_related("tags")

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: LeadSerializer, 200: LeadSerializer, **ERRORS},
        description="Upsert: a lead with the same e-mail or external id is updated (200), "
        "otherwise one is created (201). `stage` is read-only; use the lifecycle endpoints.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = lead_upsert(
            data=serializer.validated_data,
            actor=request_user(request),
            source="api",
            require_custom=True,
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(self.get_serializer(result.lead).data, status=code)

    def perform_update(self, serializer: LeadSerializer) -> None:  # type: ignore[override]
        assert serializer.instance is not None  # noqa: S101  (set by get_object)
        serializer.instance = lead_update(
            lead_id=serializer.instance.pk,
            data=serializer.validated_data,
            actor=request_user(self.request),
        )

    @extend_schema(request=TagChangeSerializer, responses={200: LeadSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def tags(self, request: Request, pk: str) -> Response:
        """Add and remove tags (all or none): ``{"add": ["webinar"], "remove": ["cold"]}``."""
        lead = self.get_object()
        change = TagChangeSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        actor = request_user(request)
        try:
            names = {
                key: [
                    lead_tags.clean_tag_name(n, field=f"{key}[{i}]") for i, n in enumerate(values)
                ]
                for key, values in change.validated_data.items()
            }
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        with transaction.atomic():
            for name in names.get("add", []):
                lead_tags.lead_tag(lead_id=lead.pk, name=name, actor=actor, request=request)
            for name in names.get("remove", []):
                lead_tags.lead_untag(lead_id=lead.pk, name=name, actor=actor, request=request)
        return Response(self.get_serializer(self.get_queryset().get(pk=lead.pk)).data)

    @extend_schema(request=DealInputSerializer, responses={200: LeadSerializer, **ERRORS})
    @action(detail=True, methods=["patch"])
    def deal(self, request: Request, pk: str) -> Response:
        """Set the deal's money: ``{"expected_value": "12500.00", "currency": "HUF"}``.
        All or nothing; a bad value is a 400 naming the field."""
        lead = self.get_object()
        data = DealInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead_deal_set(
            lead_id=lead.pk, actor=request_user(request), request=request, **data.validated_data
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=lead.pk)).data)

    @extend_schema(responses=WinSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def wins(self, request: Request, pk: str) -> Response:
        """A customer's repeat wins, oldest first (the first win is ``deal_value``)."""
        lead = self.get_object()
        return Response(WinSerializer(lead.wins.order_by("won_at", "id"), many=True).data)

    @extend_schema(request=WinInputSerializer, responses={201: WinSerializer, **ERRORS})
    @wins.mapping.post
    def win_add(self, request: Request, pk: str) -> Response:
        """Record a repeat win: ``{"value": "12000", "currency": "DKK", "note": "renewal"}``."""
        lead = self.get_object()
        data = WinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        win = lead_win_add(
            lead_id=lead.pk, actor=request_user(request), request=request, **data.validated_data
        )
        return Response(WinSerializer(win).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None, **ERRORS})
    @action(detail=True, methods=["delete"], url_path=r"wins/(?P<win_id>\d+)")
    def win_remove(self, request: Request, pk: str, win_id: str) -> Response:
        """Take back a repeat win recorded by mistake."""
        lead = self.get_object()
        lead_win_remove(
            lead_id=lead.pk, win_id=int(win_id), actor=request_user(request), request=request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

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

    @extend_schema(
        request=TransitionInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str) -> Response:
        """Move to the stage named in ``to`` (dispatches to the one service for that move)."""
        lead = self.get_object()  # 404 for leads the caller cannot see
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        result = lead_move(
            lead_id=lead.pk,
            to=values["to"],
            reason=values["reason"],
            reason_code=values["reason_code"],
            actor=request_user(request),
            source="api",
            expected=data.pop_expected(values),
        )
        return Response(self.get_serializer(result.lead).data, status=status.HTTP_200_OK)

    def _lifecycle(self, request: Request, service: Any, serializer: type[Any]) -> Response:
        lead = self.get_object()  # 404 for leads the caller cannot see
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        expected = data.pop_expected(values)
        result: Transition = service(
            lead_id=lead.pk, actor=request_user(request), source="api", expected=expected, **values
        )
        return Response(self.get_serializer(result.lead).data, status=status.HTTP_200_OK)

    @extend_schema(
        request=LifecycleInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def qualify(self, request: Request, pk: str) -> Response:
        """Suspect → Lead."""
        return self._lifecycle(request, lead_qualify, LifecycleInputSerializer)

    @extend_schema(
        request=LifecycleInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"], url_path="mark-mql")
    def mark_mql(self, request: Request, pk: str) -> Response:
        """Lead/Nurture → MQL."""
        return self._lifecycle(request, lead_mark_mql, LifecycleInputSerializer)

    @extend_schema(
        request=LifecycleInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"], url_path="mark-sal")
    def mark_sal(self, request: Request, pk: str) -> Response:
        """MQL → SAL (usually done by accepting the handover)."""
        return self._lifecycle(request, lead_mark_sal, LifecycleInputSerializer)

    @extend_schema(
        request=MarkSqlInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"], url_path="mark-sql")
    def mark_sql(self, request: Request, pk: str) -> Response:
        """SAL → SQL, optionally with the expected deal value and its currency."""
        return self._lifecycle(request, lead_mark_sql, MarkSqlInputSerializer)

    @extend_schema(
        request=ConvertInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def convert(self, request: Request, pk: str) -> Response:
        """SQL → Customer, optionally with the won value and its currency."""
        return self._lifecycle(request, lead_convert, ConvertInputSerializer)

    @extend_schema(
        request=ReasonRequiredInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def recycle(self, request: Request, pk: str) -> Response:
        """Back to Nurture, with a reason."""
        return self._lifecycle(request, lead_recycle, ReasonRequiredInputSerializer)

    @extend_schema(
        request=ReasonRequiredInputSerializer,
        responses={200: LeadSerializer, **ERRORS},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    @action(detail=True, methods=["post"])
    def disqualify(self, request: Request, pk: str) -> Response:
        """Out of the funnel, with a reason."""
        return self._lifecycle(request, lead_disqualify, ReasonRequiredInputSerializer)
