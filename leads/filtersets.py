"""One FilterSet for leads, shared by the API and the browser pages."""

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.fields import IsoDateTimeField

from leadflow.filters import IntegerFilter
from leads import customfields as cf
from leads.lifecycle import Stage
from leads.models import CustomField, FieldType, Lead, Tag
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
            raise forms.ValidationError(_("Date-time out of range."), code="invalid") from None


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
    # on the rank rows, whose score is indexed (the leads table's is not: leads.models.LeadRank)
    score_min = IntegerFilter(field_name="board_rank__score", lookup_expr="gte")
    score_max = IntegerFilter(field_name="board_rank__score", lookup_expr="lte")
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    changed_after = UTCIsoDateTimeFilter(field_name="stage_changed_at", lookup_expr="gte")
    changed_before = UTCIsoDateTimeFilter(field_name="stage_changed_at", lookup_expr="lt")
    # validators: an over-long or letterless search is a form error (400 in the API), never a 5xx
    q = django_filters.CharFilter(
        method="search", label=gettext_lazy("Search"), validators=[validate_search]
    )
    # a tag's name, any case (names are unique whatever their case: at most one tag matches)
    tag = django_filters.CharFilter(method="tagged", label=gettext_lazy("Tag"), max_length=50)

    class Meta:
        model = Lead
        fields: list[str] = []

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        """``user`` (or the API's request.user): filters on the custom fields they may see."""
        super().__init__(*args, **kwargs)
        request = kwargs.get("request")
        who = user if user is not None else getattr(request, "user", None)
        shown = cf.visible_fields(who) if who is not None else list(cf.lead_fields().values())
        for field in shown:
            self.filters.update(custom_filters(field))

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


# --- custom fields: cf_<key> (equals / any of / yes-no), cf_<key>__min and __max (numbers and
# dates), cf_<key>__empty (true: no value; false: any value) ----------------------------------


class _Values(forms.Field):
    """Several values (?cf_erp=sap&cf_erp=oracle), each checked as the custom field's type."""

    def __init__(self, *, field: CustomField, **kwargs: Any) -> None:
        self.custom = field
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[Any]:
        raw = value if isinstance(value, list | tuple) else [value]
        out = []
        for item in raw:
            if item in cf.EMPTY:
                continue
            try:
                clean = cf.clean_value(self.custom, item)
            except cf.FieldValueError as exc:
                # Translators: a custom field's label, then what is wrong with the value
                message = _("%(label)s: %(error)s") % {"label": self.custom.label, "error": exc}
                raise forms.ValidationError(message) from None
            out.extend(clean if isinstance(clean, list) else [clean])
        return out


class _ValuesWidget(forms.SelectMultiple):
    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        getlist = getattr(data, "getlist", None)
        return getlist(name) if getlist else data.get(name)


class CustomValueFilter(django_filters.Filter):
    field_class = _Values

    def __init__(self, *, custom: CustomField, **kwargs: Any) -> None:
        self.custom = custom
        super().__init__(field_name=f"custom__{custom.key}", label=custom.label, **kwargs)
        self.extra.update(field=custom, widget=_ValuesWidget)

    def filter(self, qs: QuerySet[Lead], value: list[Any]) -> QuerySet[Lead]:
        if not value:
            return qs
        field, key = self.custom, self.custom.key
        if field.type in (FieldType.BOOLEAN, FieldType.MULTI_CHOICE):
            test = Q()
            for item in value:  # any of the values
                test |= cf.holds_q(field, item)
            return qs.filter(test)
        values = [
            str(v).lower()
            if field.type in cf.TEXTUAL
            else (float(v) if field.type in cf.NUMERIC else str(v))
            for v in value
        ]
        return qs.alias(**{f"cf_{key}": cf.filter_expression(field)}).filter(
            **{f"cf_{key}__in": values}
        )


class CustomRangeFilter(django_filters.Filter):
    field_class = _Values

    def __init__(self, *, custom: CustomField, bound: str, **kwargs: Any) -> None:
        self.custom, self.bound = custom, bound
        if bound == "gte":
            label = _("%(label)s from") % {"label": custom.label}
        else:
            label = _("%(label)s to") % {"label": custom.label}
        super().__init__(field_name=f"custom__{custom.key}", label=label, **kwargs)
        self.extra.update(field=custom, widget=forms.TextInput)

    def filter(self, qs: QuerySet[Lead], value: list[Any]) -> QuerySet[Lead]:
        if not value:
            return qs
        # numbers compare as numbers; dates and date-times as ISO text, which sorts as they do
        bound = float(value[0]) if self.custom.type in cf.NUMERIC else str(value[0])
        key = self.custom.key
        return qs.alias(**{f"cf_{key}": cf.filter_expression(self.custom)}).filter(
            **{f"cf_{key}__{self.bound}": bound}
        )


class CustomEmptyFilter(django_filters.BooleanFilter):
    def __init__(self, *, custom: CustomField, **kwargs: Any) -> None:
        self.custom = custom
        super().__init__(label=_("%(label)s is empty") % {"label": custom.label}, **kwargs)

    def filter(self, qs: QuerySet[Lead], value: bool | None) -> QuerySet[Lead]:
        if value is None:
            return qs
        has = Q(custom__has_key=self.custom.key)
        return qs.exclude(has) if value else qs.filter(has)


def custom_filters(field: CustomField) -> dict[str, django_filters.Filter]:
    """The query parameters a custom field adds to the lead filters."""
    name = f"cf_{field.key}"
    out: dict[str, django_filters.Filter] = {f"{name}__empty": CustomEmptyFilter(custom=field)}
    if field.type != FieldType.LONG_TEXT:
        out[name] = CustomValueFilter(custom=field)
    if field.type in cf.ORDERED:
        out[f"{name}__min"] = CustomRangeFilter(custom=field, bound="gte")
        out[f"{name}__max"] = CustomRangeFilter(custom=field, bound="lte")
    return out
