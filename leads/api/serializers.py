from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, models
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from leadflow.api.serializers import JSONField, ModelSerializer, StoredEmailField
from leads import customfields
from leads.lifecycle import Stage
from leads.models import Activity, CustomField, FieldType, Lead, StageChange, Tag, Win
from leads.services import DEAL_FIELDS, EDITABLE_FIELDS, Expected


class StrictSerializerMixin:
    """Unknown fields are an error naming them, not silently dropped."""

    initial_data: Any
    fields: Any

    def validate(self, attrs: Any) -> Any:
        data = self.initial_data
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(dict.fromkeys(unknown, _("Unknown field.")))
        return super().validate(attrs)  # type: ignore[misc]  # the serializer's own checks


def _context_user(field: serializers.Field[Any, Any, Any, Any]) -> Any:
    request = field.context.get("request")
    return getattr(request, "user", None)


class CustomValuesField(JSONField):
    """A lead's custom field values, ``{key: value}``.

    Read: only the fields the requesting user (an API key: its user) may see; without a request
    in the context, none. Written: a JSON object whose keys the user may edit (else a 400 naming
    ``custom.<key>``, raised by ``LeadSerializer.validate``); types, unknown keys and required
    fields are checked by the lead services (``leads.customfields.clean_custom``), before they
    write anything. The OpenAPI schema lists the current fields (CustomValuesFieldExtension)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self._visible: tuple[Any, frozenset[str]] | None = None

    def visible_keys(self) -> frozenset[str]:
        user = _context_user(self)
        cached = self._visible
        if cached is None or cached[0] is not user:  # one look-up per serializer, lists included
            keys = frozenset(f.key for f in customfields.visible_fields(user)) if user else None
            cached = self._visible = (user, keys or frozenset())
        return cached[1]

    def to_representation(self, value: Any) -> Any:
        visible = self.visible_keys()
        return {k: v for k, v in (value or {}).items() if k in visible}

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError(_('Must be a JSON object, e.g. {"erp": "sap"}.'))
        return value


def custom_field_schema(field: CustomField, direction: str) -> dict[str, Any]:
    """One custom field as an OpenAPI (3.0) property: its type as the API reads and writes it."""
    kind = field.type
    schema: dict[str, Any]
    if kind in (FieldType.TEXT, FieldType.LONG_TEXT):
        limit = customfields.MAX_TEXT if kind == FieldType.TEXT else customfields.MAX_LONG_TEXT
        schema = {"type": "string", "maxLength": limit}
    elif kind in (FieldType.INTEGER, FieldType.USER):
        schema = {"type": "integer"}
    elif kind in (FieldType.DECIMAL, FieldType.MONEY):
        # stored and returned as a decimal string ("1250.50", exact); a JSON number is
        # accepted too (the description says so)
        schema = {"type": "string", "format": "decimal"}
    elif kind == FieldType.BOOLEAN:
        schema = {"type": "boolean"}
    elif kind == FieldType.DATE:
        schema = {"type": "string", "format": "date"}
    elif kind == FieldType.DATETIME:
        schema = {"type": "string", "format": "date-time"}
    elif kind == FieldType.URL:
        schema = {"type": "string", "format": "uri", "maxLength": customfields.MAX_TEXT}
    elif kind == FieldType.EMAIL:
        schema = {"type": "string", "format": "email", "maxLength": customfields.MAX_TEXT}
    elif kind == FieldType.CHOICE:
        schema = {"type": "string", "enum": [str(c["value"]) for c in field.choices]}
    elif kind == FieldType.MULTI_CHOICE:
        values = [str(c["value"]) for c in field.choices]
        schema = {"type": "array", "items": {"type": "string", "enum": values}}
    else:  # pragma: no cover  (every type is listed above)
        schema = {}
    schema["title"] = field.label
    help_text = field.help_text or customfields.expected(kind).capitalize() + "."
    if kind in (FieldType.DECIMAL, FieldType.MONEY):
        help_text += " A decimal string; a JSON number is accepted."
    if kind == FieldType.MONEY and field.currency:
        help_text += f" Currency: {field.currency}."
    schema["description"] = help_text
    if direction == "request":
        schema["nullable"] = True  # null (or "") clears the value
    return schema


class LeadSerializer(StrictSerializerMixin, ModelSerializer[Lead]):
    serializer_field_mapping = {
        **ModelSerializer.serializer_field_mapping,
        models.EmailField: StoredEmailField,
    }
    custom = CustomValuesField(
        help_text="Custom field values by key. Read: the fields your role may see. Write: "
        "only the keys to change (null clears one); each value is checked as its field's type."
    )
    # names, read here; changed through POST /leads/{id}/tags/
    tags: "serializers.SlugRelatedField[Tag]" = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )

    class Meta:
        model = Lead
        fields = (
            "id",
            *EDITABLE_FIELDS,
            "owner",
            "team",
            "stage",
            "stage_changed_at",
            "score",
            "fit_score",
            "engagement_score",
            "grade",
            "scored_at",
            "tags",
            *DEAL_FIELDS,
            "created_at",
            "updated_at",
        )
        read_only_fields = (
            *DEAL_FIELDS,
            "owner",
            "team",
            "stage",
            "stage_changed_at",
            "score",
            "fit_score",
            "engagement_score",
            "grade",
            "scored_at",
            "created_at",
            "updated_at",
        )
        # Uniqueness is the service's job (it normalises the e-mail first).
        validators: list[Any] = []
        extra_kwargs: dict[str, dict[str, Any]] = {
            "email": {"validators": []},
            "external_id": {"validators": []},
        }

    def validate(self, attrs: Any) -> Any:
        attrs = super().validate(attrs)
        if "custom" in attrs:  # keys the caller's role may not change: a 400 naming each
            try:
                customfields.check_editable(
                    _context_user(self), attrs["custom"], customfields.lead_fields()
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


class TagChangeSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    """Tags to put on a lead and to take off it (names, any case; a new name makes the tag)."""

    add = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=False), required=False, max_length=50
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=50, allow_blank=False), required=False, max_length=50
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not attrs.get("add") and not attrs.get("remove"):
            raise serializers.ValidationError({"add": _("Name a tag to add or to remove.")})
        return attrs


class ActivitySerializer(ModelSerializer[Activity]):
    class Meta:
        model = Activity
        fields = ("id", "kind", "name", "occurred_at", "received_at", "properties", "source")


class StageChangeSerializer(ModelSerializer[StageChange]):
    class Meta:
        model = StageChange
        fields = (
            "id",
            "from_stage",
            "to_stage",
            "actor",
            "actor_kind",
            "source",
            "reason",
            "reason_code",
            "changed_at",
            "owner",
            "team",
            "lead_source",
        )
        extra_kwargs = {
            "owner": {"help_text": "The lead's owner when it moved (id), after any assignment "
                      "the move made."},
            "team": {"help_text": "The lead's team when it moved (id)."},
            "lead_source": {"help_text": "The lead's source when it moved."},
        }  # fmt: skip


class ExpectedStageSerializer(serializers.Serializer[dict[str, Any]]):
    """Optimistic concurrency for every stage-moving call (lifecycle actions, handover
    decisions): send where you saw the lead."""

    expected_stage = serializers.ChoiceField(
        choices=Stage.choices,
        required=False,
        help_text="The stage you saw the lead in. If it is in another one now, nothing moves "
        "and the reply is 409 `stale_lead` naming who moved it and when. Optional; without it "
        "the move applies to the lead wherever it is now.",
    )
    expected_changed_at = serializers.DateTimeField(
        required=False,
        help_text="With `expected_stage`: the lead's `stage_changed_at` as you saw it (to the "
        "second); also refuses a lead that left and came back to the stage.",
    )

    def validate(self, attrs: Any) -> Any:
        attrs = super().validate(attrs)
        if "expected_changed_at" in attrs and "expected_stage" not in attrs:
            raise serializers.ValidationError(
                {"expected_changed_at": _("Send expected_stage with it.")}
            )
        return attrs

    @staticmethod
    def pop_expected(data: dict[str, Any]) -> Expected | None:
        """Take the expectation out of validated data (the rest are the service's arguments)."""
        stage = data.pop("expected_stage", None)
        changed_at = data.pop("expected_changed_at", None)
        return None if stage is None else Expected(stage=stage, changed_at=changed_at)


class ExpectedStageInputSerializer(StrictSerializerMixin, ExpectedStageSerializer):
    pass


def _reason_code() -> serializers.CharField:
    return serializers.CharField(
        max_length=50,
        required=False,
        default="",
        allow_blank=True,
        help_text=_(
            "An exit reason's code (GET /api/v1/handover/exit-reasons/). Needed to leave SAL or "
            "SQL for Nurture or Disqualified; ``reason`` is then an optional comment."
        ),
    )


class TransitionInputSerializer(ExpectedStageInputSerializer):
    to = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    reason_code = _reason_code()


class LifecycleInputSerializer(ExpectedStageInputSerializer):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class ReasonRequiredInputSerializer(ExpectedStageInputSerializer):
    """A reason, an exit reason's code, or both (the reason is then its comment)."""

    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    reason_code = _reason_code()

    def validate(self, attrs: Any) -> Any:
        attrs = super().validate(attrs)
        if not attrs["reason"].strip() and not attrs["reason_code"]:
            raise serializers.ValidationError(
                {"reason": _("Give a reason, an exit reason's code (reason_code), or both.")}
            )
        return attrs


def _money(help_text: str) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=Decimal(0),
        help_text=help_text,
    )


def _currency() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=3,
        help_text="ISO 4217 code: the reporting currency or one with an exchange rate; "
        "empty = the reporting currency.",
    )


class ConvertInputSerializer(LifecycleInputSerializer):
    deal_value = _money("The won value, in `currency`.")
    currency = _currency()


class MarkSqlInputSerializer(LifecycleInputSerializer):
    expected_value = _money("What the deal is expected to be worth, in `currency`.")
    currency = _currency()


class DealInputSerializer(serializers.Serializer[Any]):
    """The deal's money (``lead_deal_set``): give any of the three; null clears a value."""

    expected_value = _money("What the open deal is expected to be worth, in `currency`.")
    deal_value = _money("The won value, in `currency`; only once the lead is a Customer.")
    currency = _currency()


class WinSerializer(serializers.ModelSerializer[Win]):
    class Meta:
        model = Win
        fields = ("id", "won_at", "value", "currency", "note", "created_at")
        read_only_fields = fields


class WinInputSerializer(serializers.Serializer[Any]):
    """A repeat win (renewal, upsell) of a customer."""

    value = _money("What the win is worth, in `currency`.")
    currency = _currency()
    won_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class CustomValuesFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """The ``custom`` object's schema, made when the schema is generated: one typed property per
    current custom field (a field added later shows up in the next schema without a deploy)."""

    target_class = CustomValuesField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> Any:
        try:
            fields = list(customfields.lead_fields().values())
        except (DatabaseError, RuntimeError):
            # no database to read (``manage.py spectacular`` on a build machine, a test runner
            # that blocks queries): an open object, rather than a claim of no fields
            return {"type": "object", "additionalProperties": True}
        return {
            "type": "object",
            "properties": {f.key: custom_field_schema(f, direction) for f in fields},
            "additionalProperties": False,
        }
