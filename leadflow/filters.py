"""Filters every FilterSet shares."""

import django_filters
from django import forms

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


class IntegerFilter(django_filters.NumberFilter):
    """An id or a whole-number column: a decimal or a number past 64 bits is a 400 naming the
    parameter, not a query the database cannot bind (SQLite raised OverflowError, a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", BIGINT_MIN)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(*args, **kwargs)
