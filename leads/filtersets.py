"""One FilterSet for leads, shared by the API and the browser pages."""

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField

from leadflow.filters import IntegerFilter
from leads.lifecycle import Stage
from leads.models import Lead


class UTCIsoDateTimeField(IsoDateTimeField):
    """ISO 8601, converted to UTC here: PostgreSQL refuses offsets past ±15:59 (a 500 before)."""

    def to_python(self, value: Any) -> datetime | None:
        parsed: datetime | None = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError("Date-time out of range.", code="invalid") from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class LeadFilterSet(django_filters.FilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    owner = IntegerFilter(field_name="owner_id")
    source = django_filters.CharFilter(field_name="source", lookup_expr="iexact")
    industry = django_filters.CharFilter(field_name="industry", lookup_expr="iexact")
    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact")
    grade = django_filters.CharFilter(field_name="grade", lookup_expr="iexact")
    score_min = IntegerFilter(field_name="score", lookup_expr="gte")
    score_max = IntegerFilter(field_name="score", lookup_expr="lte")
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    changed_after = UTCIsoDateTimeFilter(field_name="stage_changed_at", lookup_expr="gte")
    changed_before = UTCIsoDateTimeFilter(field_name="stage_changed_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        value = value.strip()
        if not value:
            return queryset
        if "@" in value:  # exact e-mail hits the unique index
            return queryset.filter(email=value.lower())
        return queryset.filter(
            Q(first_name__istartswith=value)
            | Q(last_name__istartswith=value)
            | Q(company__istartswith=value)
            | Q(domain__istartswith=value.lower())
        )
