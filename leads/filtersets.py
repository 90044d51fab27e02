"""One FilterSet for leads, shared by the API and the browser pages."""

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField

from leadflow.filters import IntegerFilter
from leads.lifecycle import Stage
from leads.models import Lead, Tag
from leads.search import parse_search, search_filter, validate_search


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
    # distinct=False: a lead has one stage, and django-filter's default DISTINCT compared all
    # 40 columns of every matching lead
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
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
    # validators: an over-long or letterless search is a form error (400 in the API), never a 5xx
    q = django_filters.CharFilter(method="search", label="Search", validators=[validate_search])
    # a tag's name, any case (names are unique whatever their case: at most one tag matches)
    tag = django_filters.CharFilter(method="tagged", label="Tag", max_length=50)

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        """Every word somewhere in the name, e-mail, company, domain, job title or notes,
        typos tolerated (leads.search has the rule; PostgreSQL answers it from indexes)."""
        if not value.strip():
            return queryset
        return search_filter(queryset, parse_search(value))

    def tagged(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        if not value.strip():
            return queryset
        return queryset.filter(tags__in=Tag.objects.filter(name__iexact=value.strip()))
