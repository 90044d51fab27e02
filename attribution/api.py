"""Attribution over the API: campaign spend (``GET /api/v1/spend/`` lists it, ``POST`` imports
rows, all or nothing, every bad row named as ``rows[i].field``), the channel grouping rules
(``/api/v1/channel-rules/``, saved as the Settings page saves them) and a lead's touches with
the channel each groups into now (``GET /api/v1/leads/{id}/touches/``)."""

from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from attribution.channels import Grouping
from attribution.models import ChannelRule, Spend, Touch
from attribution.spend import FIELDS, spend_import, spend_month
from leadflow.api.auth import ReadWrite, request_user
from leadflow.api.config_rows import ConfigViewSet
from leadflow.api.pagination import FixedOrderPagination
from leadflow.apikeys import Scope
from leads.permissions import HasPerm
from leads.selectors import visible_lead_id


class Perm(StrEnum):
    VIEW_SPEND = "attribution.view_spend"
    ADD_SPEND = "attribution.add_spend"
    VIEW_CHANNEL_RULES = "attribution.view_channelrule"
    CHANGE_CHANNEL_RULES = "attribution.change_channelrule"
    VIEW_ACTIVITY = "leads.view_activity"  # touches are read from the activities


class SpendPermission(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        needed = Perm.VIEW_SPEND if request.method in SAFE_METHODS else Perm.ADD_SPEND
        return bool(request.user and request.user.has_perm(needed.value))


class SpendRowSerializer(serializers.ModelSerializer[Spend]):
    month = serializers.SerializerMethodField()

    class Meta:
        model = Spend
        fields = FIELDS

    def get_month(self, spend: Spend) -> str:
        return f"{spend.month:%Y-%m}"


class SpendListSerializer(serializers.Serializer[Any]):
    results = SpendRowSerializer(many=True)


class SpendImportSerializer(serializers.Serializer[Any]):
    rows = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"month": "2026-03", "source": "google", "medium": "cpc", "campaign": '
        '"spring-sale", "amount": "1200.00", "currency": "EUR"}, …]: a campaign (or, without '
        "one, a source) that some touch carries; currency empty = the reporting currency.",
    )


class SpendView(APIView):
    required_scopes = ReadWrite(Scope.REPORTS_READ, Scope.SPEND_WRITE)
    permission_classes = [IsAuthenticated, SpendPermission]

    @extend_schema(
        operation_id="spend_list",
        parameters=[
            OpenApiParameter("month_from", OpenApiTypes.STR, description="YYYY-MM, inclusive"),
            OpenApiParameter("month_to", OpenApiTypes.STR, description="YYYY-MM, inclusive"),
        ],
        responses={200: SpendListSerializer},
    )
    def get(self, request: Request) -> Response:
        rows = Spend.objects.order_by("month", "campaign", "source", "medium")
        for name, lookup in (("month_from", "month__gte"), ("month_to", "month__lte")):
            if value := request.query_params.get(name):
                try:
                    rows = rows.filter(**{lookup: spend_month(value)})
                except DjangoValidationError as exc:
                    raise serializers.ValidationError({name: exc.messages}) from None
        return Response({"results": SpendRowSerializer(rows[:5000], many=True).data})

    @extend_schema(
        operation_id="spend_import",
        request=SpendImportSerializer,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        body = SpendImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        stored = spend_import(
            rows=body.validated_data["rows"], actor=request_user(request), request=request
        )
        return Response({"stored": stored})


class ChannelRuleSerializer(serializers.ModelSerializer[ChannelRule]):
    class Meta:
        model = ChannelRule
        fields = (
            "id", "position", "channel", "source_pattern", "medium_pattern", "campaign_pattern",
            "active",
        )  # fmt: skip


class _ByPosition(FixedOrderPagination):
    ordering = ("position", "id")  # the order the rules are tried in


class ChannelRuleViewSet(ConfigViewSet):
    """The channel grouping, in the order the rules are tried (position, then id): a touch
    belongs to the first active rule whose patterns all match its tags. Reports group by the
    rules when they run, so a change regroups all history at once."""

    queryset = ChannelRule.objects.all()
    serializer_class = ChannelRuleSerializer
    pagination_class = _ByPosition
    read_perm = Perm.VIEW_CHANNEL_RULES
    write_perm = Perm.CHANGE_CHANNEL_RULES
    required_scopes = ReadWrite(Scope.REPORTS_READ, Scope.REPORTS_WRITE)


class TouchSerializer(serializers.ModelSerializer[Touch]):
    channel = serializers.SerializerMethodField(
        help_text="The channel the grouping rules give the touch's tags now."
    )

    class Meta:
        model = Touch
        fields = (
            "id", "occurred_at", "kind", "source", "medium", "campaign", "channel", "activity_id"
        )  # fmt: skip

    def get_channel(self, touch: Touch) -> str:
        grouping: Grouping = self.context["grouping"]
        return grouping.channel((touch.source, touch.medium, touch.campaign))


class _Oldest(FixedOrderPagination):
    ordering = ("occurred_at", "id")


class LeadTouchesView(generics.ListAPIView[Touch]):
    """A lead's touches, oldest first: each moment a channel brought the person to us (kind
    ``created``, ``campaign``, ``email``, ``form`` or ``referral``), with its tags and channel."""

    serializer_class = TouchSerializer
    required_scopes = ReadWrite(Scope.LEADS_READ)
    permission_classes = [IsAuthenticated, HasPerm.of(Perm.VIEW_ACTIVITY)]
    pagination_class = _Oldest
    filter_backends: list[Any] = []
    queryset = Touch.objects.none()  # for the schema generator; requests use get_queryset

    def get_queryset(self) -> QuerySet[Touch]:
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        lead_id = visible_lead_id(request_user(self.request), self.kwargs["lead_id"])
        return Touch.objects.filter(lead_id=lead_id)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "grouping": Grouping()}
