"""Serializer pieces every API app shares."""

from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import models
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
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

    Every model serializer of the API derives from this one (tests/api/test_input_shapes.py
    holds it)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.JSONField: JSONField,
    }


class SlugRelatedField(serializers.SlugRelatedField[_M]):
    """DRF's SlugRelatedField that refuses a NUL character before looking the slug up.

    PostgreSQL cannot hold or compare text with NUL in it (a DataError, a 500). DRF's text fields
    refuse it themselves (ProhibitNullCharactersValidator); its related fields query first."""

    default_error_messages = {
        **serializers.SlugRelatedField.default_error_messages,
        "null_characters": "Null characters are not allowed.",
    }

    def to_internal_value(self, data: Any) -> _M:
        if isinstance(data, str) and "\x00" in data:
            self.fail("null_characters")
        return super().to_internal_value(data)


class StoredEmailField(serializers.CharField):
    """A lead's e-mail: the API accepts an address Django's validator passes (else a 400), and
    returns the address as stored. Segment ingestion and CSV imports store addresses this field
    would refuse (non-ASCII local parts, say), so the schema claims ``format: email`` for
    requests only (see the extension below). The check runs in ``to_internal_value``, not as a
    field validator, which drf-spectacular would turn into ``format: email`` for responses too."""

    default_error_messages = {"invalid": serializers.EmailField.default_error_messages["invalid"]}

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        try:
            validate_email(value)
        except DjangoValidationError:
            self.fail("invalid")
        return value


class StoredEmailFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    target_class = StoredEmailField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> Any:
        if direction == "request":
            return build_basic_type(OpenApiTypes.EMAIL)
        schema = build_basic_type(OpenApiTypes.STR)
        assert schema is not None  # noqa: S101  (a basic type)
        return {
            **schema,
            "description": "As stored: imports and Segment may have stored any text, "
            "non-ASCII included.",
        }
