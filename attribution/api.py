"""Campaign spend over the API: ``GET /api/v1/spend/`` lists it, ``POST`` imports rows (all or
nothing; every bad row named as ``rows[i].field``)."""

from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from attribution.models import Spend
from attribution.spend import FIELDS, spend_import, spend_month
from leadflow.api.auth import ReadWrite, request_user
from leadflow.apikeys import Scope


class Perm(StrEnum):
    VIEW_SPEND = "attribution.view_spend"
    ADD_SPEND = "attribution.add_spend"


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
