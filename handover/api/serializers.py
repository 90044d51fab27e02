from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from handover import rules
from handover.models import (
    AccountHandover,
    AssignmentMember,
    AssignmentRule,
    BusinessCalendarConfig,
    Delivery,
    DeliveryAttempt,
    Handover,
    Notification,
    OutOfOffice,
    QualificationChecklist,
    QualificationFramework,
    RejectionReason,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
    WebhookSubscription,
)
from leadflow.api.serializers import ModelSerializer
from leadflow.validators import reject_nul
from leads.api.serializers import ExpectedStageSerializer
from leads.models import ExitReason


class HandoverSerializer(ModelSerializer[Handover]):
    lead_name = serializers.CharField(source="lead.display_name", read_only=True)
    lead_stage = serializers.CharField(source="lead.stage", read_only=True)

    class Meta:
        model = Handover
        fields = (
            "id",
            "lead",
            "lead_name",
            "lead_stage",
            "owner",
            "team",
            "rule",
            "status",
            "opened_at",
            "assigned_at",
            "decided_at",
            "decided_by",
            "reason_code",
            "comment",
            "lead_source",
        )
        read_only_fields = fields


class HandoverAcceptInputSerializer(ExpectedStageSerializer):
    pass


class AccountHandoverSerializer(ModelSerializer[AccountHandover]):
    account_name = serializers.CharField(source="account.name", read_only=True)
    rejection_reason: serializers.SlugRelatedField[RejectionReason] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )

    class Meta:
        model = AccountHandover
        fields = (
            "id",
            "account",
            "account_name",
            "owner",
            "team",
            "status",
            "opened_at",
            "score",
            "grade",
            "why",
            "tier",
            "source",
            "warn_at",
            "due_at",
            "warned_at",
            "breached_at",
            "decided_at",
            "decided_by",
            "rejection_reason",
            "comment",
        )
        read_only_fields = fields


class AccountRejectInputSerializer(serializers.Serializer[dict[str, Any]]):
    reason = serializers.SlugField(max_length=50)
    comment = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class HandoverRejectInputSerializer(ExpectedStageSerializer):
    reason = serializers.SlugField(max_length=50)
    comment = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class ReassignInputSerializer(serializers.Serializer[dict[str, Any]]):
    owner = serializers.IntegerField(min_value=1)


class NotificationSerializer(ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = (
            "id",
            "kind",
            "title",
            "body",
            "link",
            "lead",
            "handover",
            "created_at",
            "read_at",
        )
        read_only_fields = fields


class RejectionCountSerializer(serializers.Serializer[dict[str, Any]]):
    lead_source = serializers.CharField()
    reason_code = serializers.CharField()
    count = serializers.IntegerField()


class UnreadCountSerializer(serializers.Serializer[dict[str, Any]]):
    unread = serializers.IntegerField()


class MarkedSerializer(serializers.Serializer[dict[str, Any]]):
    marked = serializers.IntegerField()


class MarkReadInputSerializer(serializers.Serializer[dict[str, Any]]):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False, allow_null=True)


class RejectionReasonSerializer(ModelSerializer[RejectionReason]):
    class Meta:
        model = RejectionReason
        fields = ("id", *RejectionReason.SETTINGS_FIELDS)


class ExitReasonSerializer(ModelSerializer[ExitReason]):
    class Meta:
        model = ExitReason
        fields = ("id", *ExitReason.SETTINGS_FIELDS)


class FrameworkSerializer(ModelSerializer[QualificationFramework]):
    class Meta:
        model = QualificationFramework
        fields = ("id", "code", "name", "criteria", "min_met", "required", "active", "is_default")


class ChecklistSerializer(ModelSerializer[QualificationChecklist]):
    framework: serializers.SlugRelatedField[QualificationFramework] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )

    class Meta:
        model = QualificationChecklist
        fields = (
            "id",
            "lead",
            "framework",
            "answers",
            "passed",
            "passed_at",
            "updated_by",
            "updated_at",
        )
        read_only_fields = fields


class ChecklistInputSerializer(serializers.Serializer[dict[str, Any]]):
    lead = serializers.IntegerField(min_value=1)
    framework = serializers.SlugField()
    answers = serializers.DictField(validators=[reject_nul])


class CalendarSerializer(ModelSerializer[BusinessCalendarConfig]):
    class Meta:
        model = BusinessCalendarConfig
        fields = ("id", "name", "time_zone", "working_hours", "holidays")


class SlaPolicySerializer(ModelSerializer[SlaPolicy]):
    class Meta:
        model = SlaPolicy
        fields = (
            "id",
            "name",
            "stage",
            "calendar",
            "target_minutes",
            "warn_before_minutes",
            "escalation",
            "active",
        )


class SlaEventSerializer(ModelSerializer[SlaEvent]):
    class Meta:
        model = SlaEvent
        fields = ("kind", "step", "scheduled_for", "fired_at", "done_at")


class SlaTimerSerializer(ModelSerializer[SlaTimer]):
    events = SlaEventSerializer(many=True, read_only=True)
    met_on_time = serializers.SerializerMethodField()

    class Meta:
        model = SlaTimer
        fields = (
            "id",
            "lead",
            "handover",
            "policy",
            "stage",
            "owner",
            "state",
            "started_at",
            "warn_at",
            "due_at",
            "warned_at",
            "breached_at",
            "escalation_level",
            "stopped_at",
            "met_on_time",
            "events",
        )
        read_only_fields = fields

    def get_met_on_time(self, timer: SlaTimer) -> bool | None:
        if timer.state != SlaTimer.State.MET or timer.stopped_at is None:
            return None
        return timer.stopped_at <= timer.due_at


class AssignmentMemberSerializer(ModelSerializer[AssignmentMember]):
    class Meta:
        model = AssignmentMember
        fields = ("id", "rule", "user", "weight", "active", "last_assigned_at")
        read_only_fields = ("last_assigned_at",)


class AssignmentRuleSerializer(ModelSerializer[AssignmentRule]):
    members = AssignmentMemberSerializer(many=True, read_only=True)

    class Meta:
        model = AssignmentRule
        fields = (
            "id",
            "name",
            "position",
            "active",
            "countries",
            "industries",
            "company_sizes",
            "team",
            "capacity",
            "capacity_period",
            "require_working_hours",
            "account_owner_first",
            "fallback_owner",
            "members",
        )


class OutOfOfficeSerializer(ModelSerializer[OutOfOffice]):
    class Meta:
        model = OutOfOffice
        fields = ("id", "user", "starts_at", "ends_at", "note")
        extra_kwargs = {"user": {"required": False}}  # default: yourself

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (
            attrs.get("starts_at")
            and attrs.get("ends_at")
            and attrs["ends_at"] <= attrs["starts_at"]
        ):
            # Translators: starts_at is the name of a field in the API
            raise serializers.ValidationError({"ends_at": _("Must be after starts_at.")})
        return attrs


class WebhookSubscriptionSerializer(ModelSerializer[WebhookSubscription]):
    """A subscription as read back: the secret only as a hint (it is shown once, on create)."""

    secret_hint = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSubscription
        fields: tuple[str, ...] = (
            "id",
            "url",
            "description",
            "event_types",
            "secret_hint",
            "active",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = ("created_at",)

    def get_secret_hint(self, subscription: WebhookSubscription) -> str:
        return rules.secret_hint(subscription.secret)


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    """The create response: the only time the secret is returned."""

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = (*WebhookSubscriptionSerializer.Meta.fields, "secret")
        read_only_fields = ("secret", "created_at")


class DeliveryAttemptSerializer(ModelSerializer[DeliveryAttempt]):
    class Meta:
        model = DeliveryAttempt
        fields = (
            "number",
            "started_at",
            "duration_ms",
            "ok",
            "status_code",
            "error",
            "response_excerpt",
        )


class DeliverySerializer(ModelSerializer[Delivery]):
    event_id = serializers.UUIDField(source="event.event_id", read_only=True, allow_null=True)
    event_type = serializers.CharField(source="event.type", read_only=True, allow_null=True)

    class Meta:
        model = Delivery
        fields = (
            "id",
            "channel",
            "status",
            "event_id",
            "event_type",
            "subscription",
            "recipient",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "delivered_at",
            "last_error",
            "created_at",
        )
        read_only_fields = fields
