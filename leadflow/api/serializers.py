"""Serializer pieces every API app shares."""

from typing import Any, TypeVar

from django.db import models
from rest_framework import serializers

_M = TypeVar("_M", bound=models.Model)


class JSONField(serializers.JSONField):
    """The one rule for how a JSON field reads its input, in every body format.

    A JSON body carries the value itself. A form-encoded or multipart body carries text, which is
    parsed as JSON: ``{"a": 1}``, ``[]``, ``null``. DRF checks ``allow_null`` on the raw input,
    before parsing, so the text ``null`` used to slip through as ``None`` and reach a NOT NULL
    column (a 500). Here a parsed ``null`` meets the same check as a JSON ``null``: a 400 naming
    the field. Text that is not JSON is refused as invalid, as before.
    """

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if value is None and not self.allow_null:
            self.fail("null")
        return value


class ModelSerializer(serializers.ModelSerializer[_M]):
    """DRF's ModelSerializer with model JSON fields read by :class:`JSONField`.

    Every model serializer of the API derives from this one (tests/api/test_fields.py holds it)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.JSONField: JSONField,
    }
