from decimal import Decimal
from typing import Any

from django.db import models
from rest_framework import serializers

from leadflow.api.serializers import ModelSerializer, StoredEmailField
from leads.lifecycle import Stage
from leads.models import Activity, Lead, StageChange, Tag
from leads.services import EDITABLE_FIELDS, Expected


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
        return super().validate(attrs)  # type: ignore[misc]  # the serializer's own checks


class LeadSerializer(StrictSerializerMixin, ModelSerializer[Lead]):
    serializer_field_mapping = {
        **ModelSerializer.serializer_field_mapping,
        models.EmailField: StoredEmailField,
    }
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
            raise serializers.ValidationError({"add": "Name a tag to add or to remove."})
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
            "changed_at",
        )


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
                {"expected_changed_at": "Send expected_stage with it."}
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


class TransitionInputSerializer(ExpectedStageInputSerializer):
    to = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class LifecycleInputSerializer(ExpectedStageInputSerializer):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class ReasonRequiredInputSerializer(ExpectedStageInputSerializer):
    reason = serializers.CharField(max_length=500)


class ConvertInputSerializer(ExpectedStageInputSerializer):
    reason = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
    deal_value = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True, min_value=Decimal(0)
    )
