from decimal import Decimal
from typing import Any

from django.db import models
from rest_framework import serializers

from leadflow.api.serializers import ModelSerializer, StoredEmailField
from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageChange
from leads.services import EDITABLE_FIELDS


class StrictSerializerMixin:
    """Unknown fields are an error naming them, not silently dropped."""

    initial_data: Any
    fields: Any

    def validate(self, attrs: Any) -> Any:
        data = self.initial_data
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(dict.fromkeys(unknown, "Unknown field."))
        return attrs


class LeadSerializer(StrictSerializerMixin, ModelSerializer[Lead]):
    serializer_field_mapping = {
        **ModelSerializer.serializer_field_mapping,
        models.EmailField: StoredEmailField,
    }

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
            "created_at",
            "updated_at",
        )
        read_only_fields = (
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
            "changed_at",
        )


class TransitionInputSerializer(serializers.Serializer[dict[str, Any]]):
    to = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class LifecycleInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class ReasonRequiredInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500)


class ConvertInputSerializer(StrictSerializerMixin, serializers.Serializer[dict[str, Any]]):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    deal_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True, min_value=Decimal(0)
    )
