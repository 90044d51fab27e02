import json
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from leadflow.api.serializers import JSONField, ModelSerializer, SlugRelatedField
from leadflow.validators import reject_nul
from privacy.models import (
    Channel,
    ConsentEvent,
    DedupePolicy,
    DuplicatePair,
    ImportJob,
    MergeRecord,
    SavedMapping,
)


class MappingField(JSONField):
    """A {"CSV column": "field"} object; multipart forms may send it as a JSON string."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except json.JSONDecodeError:
                raise serializers.ValidationError(_("Not valid JSON.")) from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise serializers.ValidationError(_('Expected {"CSV column": "field", ...}.'))
        reject_nul(data)
        return data


class ImportJobSerializer(ModelSerializer[ImportJob]):
    summary = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    percent = serializers.IntegerField(read_only=True, allow_null=True)
    resumable = serializers.BooleanField(read_only=True)

    class Meta:
        model = ImportJob
        fields = (
            "id", "filename", "size", "mapping", "policy", "dry_run", "encoding", "delimiter",
            "dayfirst", "source", "status", "error", "summary", "done", "total", "percent",
            "heartbeat_at", "cancel_requested", "resumable", "created_by", "created_at",
            "started_at", "finished_at",
        )  # fmt: skip
        read_only_fields = fields


class ImportCreateInputSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()
    mapping = MappingField(required=False)
    mapping_name = SlugRelatedField(
        slug_field="name", queryset=SavedMapping.objects.all(), required=False
    )
    policy = serializers.ChoiceField(choices=DedupePolicy.choices, default=DedupePolicy.SKIP)
    dry_run = serializers.BooleanField(default=False)
    encoding = serializers.CharField(required=False, default="", allow_blank=True)
    delimiter = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=1, trim_whitespace=False
    )
    dayfirst = serializers.BooleanField(default=True)
    source = serializers.CharField(required=False, default="import", allow_blank=True)  # type: ignore[assignment]


class ImportPreviewInputSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()
    mapping = MappingField(required=False)
    encoding = serializers.CharField(required=False, default="", allow_blank=True)
    delimiter = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=1, trim_whitespace=False
    )
    dayfirst = serializers.BooleanField(default=True)


class SavedMappingSerializer(ModelSerializer[SavedMapping]):
    mapping = MappingField()

    class Meta:
        model = SavedMapping
        fields = ("id", "name", "mapping", "created_by", "created_at")
        read_only_fields = ("created_by", "created_at")


class ConsentInputSerializer(serializers.Serializer[Any]):
    channel = serializers.ChoiceField(choices=Channel.choices)
    granted = serializers.BooleanField()
    source = serializers.CharField(max_length=100)  # type: ignore[assignment]


class ConsentEventSerializer(ModelSerializer[ConsentEvent]):
    class Meta:
        model = ConsentEvent
        fields = ("id", "lead", "channel", "granted", "source", "at", "actor")


class EraseInputSerializer(serializers.Serializer[Any]):
    confirm = serializers.BooleanField()
    reason = serializers.CharField(required=False, default="", allow_blank=True, max_length=300)

    def validate_confirm(self, value: bool) -> bool:
        if not value:
            raise serializers.ValidationError(_("Erasure cannot be undone: send confirm=true."))
        return value


class DuplicatePairSerializer(ModelSerializer[DuplicatePair]):
    class Meta:
        model = DuplicatePair
        fields = ("id", "lead_a", "lead_b", "reason", "similarity", "status", "found_at")


class MergeInputSerializer(serializers.Serializer[Any]):
    survivor = serializers.IntegerField()
    duplicate = serializers.IntegerField()


class MergeRecordSerializer(ModelSerializer[MergeRecord]):
    class Meta:
        model = MergeRecord
        fields = ("id", "survivor", "merged_lead_id", "moved", "actor", "at")
