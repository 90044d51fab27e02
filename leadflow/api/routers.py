"""Routers for every API app: a detail route's id is an integer.

DRF's default lookup pattern matches any text, so ``/predictive/leads/AAA/`` reached views that
parse the id themselves (a ValueError, a 500). Here the URL itself only matches digits: any other
id is a 404 before a view runs (a JSON one: ``leadflow.api.exceptions.api_not_found``). A
viewset whose lookup is not an id says so with ``lookup_value_regex``.
"""

from typing import Any

from rest_framework import routers

INTEGER_ID = "[0-9]+"


class _IntegerIds:
    def get_lookup_regex(self, viewset: Any, lookup_prefix: str = "") -> str:
        lookup_field = getattr(viewset, "lookup_field", "pk")
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or lookup_field
        value = getattr(viewset, "lookup_value_regex", INTEGER_ID)
        return f"(?P<{lookup_prefix}{kwarg}>{value})"


class SimpleRouter(_IntegerIds, routers.SimpleRouter):
    pass


class DefaultRouter(_IntegerIds, routers.DefaultRouter):
    pass
