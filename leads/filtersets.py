"""One FilterSet for leads, shared by the API and the browser pages."""

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Func, QuerySet, TextField
from django_filters.fields import IsoDateTimeField

from leadflow.filters import IntegerFilter
from leads.lifecycle import Stage
from leads.models import Lead, email_in


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


class SearchText(Func):
    """The text the name search looks inside: " <first> <last> <company> <domain>" (the
    leading space lets "% zq%" match the start of every word). On PostgreSQL
    lead_search_trgm_idx (pg_trgm GIN, migration 0009) is built on UPPER() of this very
    expression, which is what ``icontains`` compares: keep the two identical."""

    template = "(' ' || %(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self) -> None:
        super().__init__("first_name", "last_name", "company", "domain")


# below this many characters the search matches the start of a word: pg_trgm indexes trigrams,
# and "%zq%" has none (a scan of every lead), where "% zq%" has "  z" and " zq"
SUBSTRING_MIN = 3


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
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Lead
        fields: list[str] = []

    def search(self, queryset: QuerySet[Lead], name: str, value: str) -> QuerySet[Lead]:
        """An exact e-mail, or text inside a name, company or domain (word starts only, for
        one or two characters); each is answered from an index on PostgreSQL."""
        value = value.strip()
        if not value:
            return queryset
        if "@" in value:
            return queryset.filter(email_in([value]))
        needle = value if len(value) >= SUBSTRING_MIN else f" {value}"
        return queryset.alias(search_text=SearchText()).filter(search_text__icontains=needle)
