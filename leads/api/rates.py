"""Exchange rates over the API: what the money reports convert deals at (``reports:read`` to
read, ``reports:write`` to change; managers and admins). ``PUT /api/v1/exchange-rates/HUF/``
sets a rate and creates it if new, so a nightly rate sync needs no lookup first. A rate a lead's
deal is in cannot be deleted (409 naming the leads)."""

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from leadflow.api.auth import ReadWrite
from leadflow.api.config_rows import ConfigViewSet
from leadflow.api.pagination import FixedOrderPagination
from leadflow.apikeys import Scope
from leadflow.validators import currency_code
from leads.models import ExchangeRate


class _CurrencyCode(serializers.CharField):
    """An ISO 4217 code in any case, stored upper-case (the uniqueness check is the model's)."""

    def to_internal_value(self, data: Any) -> str:
        return str(super().to_internal_value(data)).strip().upper()


class ExchangeRateSerializer(serializers.ModelSerializer[ExchangeRate]):
    currency = _CurrencyCode(
        max_length=3, validators=[currency_code], help_text="ISO 4217, e.g. HUF."
    )

    class Meta:
        model = ExchangeRate
        fields = ("currency", "rate", "updated_at")
        read_only_fields = ("updated_at",)


class _ByCurrency(FixedOrderPagination):
    ordering = "currency"


class ExchangeRateViewSet(ConfigViewSet):
    """Exchange rates by ISO 4217 code (in the path, any case): one unit of the currency in the
    reporting currency. A change restates the won revenue held in that currency."""

    queryset = ExchangeRate.objects.all()
    serializer_class = ExchangeRateSerializer
    pagination_class = _ByCurrency
    lookup_field = "currency"
    lookup_value_regex = "[A-Za-z]{3}"
    read_perm = "leads.view_exchangerate"
    write_perm = "leads.change_exchangerate"
    required_scopes = ReadWrite(Scope.REPORTS_READ, Scope.REPORTS_WRITE)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self.lookup_field in self.kwargs:  # codes are stored upper-case
            self.kwargs[self.lookup_field] = str(self.kwargs[self.lookup_field]).upper()

    @extend_schema(
        request=ExchangeRateSerializer,
        responses={200: ExchangeRateSerializer, 201: ExchangeRateSerializer},
    )
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """PUT sets the rate of the currency in the path (201 if it had none); PATCH changes a
        rate held. The currency is the path's: a body naming another is a 400."""
        code = self.kwargs[self.lookup_field]
        data = request.data
        if isinstance(data, Mapping):
            named = data.get("currency", code)
            if not isinstance(named, str) or named.strip().upper() != code:
                raise serializers.ValidationError(
                    {
                        "currency": [
                            _("The currency is the one in the path, %(code)s.") % {"code": code}
                        ]
                    }
                )
            data = {**data, "currency": code}
        partial = kwargs.pop("partial", False)
        instance = self.get_queryset().filter(currency=code).first()
        if instance is None and partial:
            instance = self.get_object()  # 404
        serializer = self.get_serializer(instance, data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if instance is None:
            self.perform_create(serializer)
            return Response(serializer.data, status=status.HTTP_201_CREATED)
        self.perform_update(serializer)
        return Response(serializer.data)
