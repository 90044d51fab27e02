"""``?ordering=`` on every list: the fields a view declares, and a 400 naming any other.

DRF's own ``OrderingFilter`` drops unknown fields silently and, without ``ordering_fields``,
allows every serializer field. Here a list orders by the fields in its ``ordering_fields`` (``id``
when it declares none), anything else is a 400 naming it, and ``id`` breaks ties.

Lists are cursor-paged, and a cursor keeps its place on the *first* sort field (plus an offset,
capped at 1,000, among equal values): so cursor-paged lists declare only non-null, near-unique
fields (ids, timestamps). Ordering by a score, where thousands of leads share a value, would
repeat pages; rank with the ``score_min``/``score_max`` filters instead.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

DEFAULT_FIELDS: tuple[str, ...] = ("id",)


def ordering_fields_of(view: Any) -> tuple[str, ...]:
    return tuple(getattr(view, "ordering_fields", None) or DEFAULT_FIELDS)


class OrderingFilter(filters.OrderingFilter):
    ordering_description = "Sort by these fields, comma separated; '-' before a field reverses it."

    def get_valid_fields(
        self, queryset: QuerySet[Any], view: Any, context: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        return [(name, name) for name in ordering_fields_of(view)]

    def get_ordering(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> Sequence[str] | None:
        raw = request.query_params.get(self.ordering_param)
        if raw is None or getattr(view, "detail", False):  # one object: nothing to order
            return self.get_default_ordering(view)
        terms = [term.strip() for term in raw.split(",")]
        allowed = ordering_fields_of(view)
        unknown = [t for t in terms if t.removeprefix("-") not in allowed]
        if unknown or not terms:
            shown = ", ".join(repr(t) for t in unknown) or "''"
            raise ValidationError(
                {
                    self.ordering_param: [
                        _("Cannot order by %(fields)s; use %(allowed)s.")
                        % {"fields": shown, "allowed": ", ".join(allowed)}
                    ]
                }
            )
        if terms[-1].removeprefix("-") != "id":
            terms.append("-id" if terms[0].startswith("-") else "id")  # equal values: stable
        return terms

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        if self.ordering_param not in request.query_params:
            return queryset  # the list's own order (cursor pages apply theirs)
        ordering = self.get_ordering(request, queryset, view)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        fields = ordering_fields_of(view)
        one = "-?(" + "|".join(re.escape(f) for f in fields) + ")"
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": f"{self.ordering_description} Fields: {', '.join(fields)}.",
                "schema": {"type": "string", "pattern": f"^{one}(,{one})*$"},
            }
        ]
