from typing import Any

from rest_framework import serializers

from leadflow.api.serializers import ModelSerializer
from scoring import services
from scoring.models import DryRunLead, ScoringModel, ScoringRule, ScoringRun


class ScoringRuleSerializer(ModelSerializer[ScoringRule]):
    """Shape and types only; what a rule means is checked by the service (scoring.rules)."""

    class Meta:
        model = ScoringRule
        fields = ("id", "model", "key", *services.RULE_FIELDS)  # what a rule is: in services
        read_only_fields = ("id", "key")


class ScoringModelSerializer(ModelSerializer[ScoringModel]):
    rules = ScoringRuleSerializer(many=True, read_only=True)

    class Meta:
        model = ScoringModel
        fields = (
            "id",
            "version",
            "status",
            *services.MODEL_FIELDS,
            "based_on",
            "created_at",
            "published_at",
            "rules",
        )
        read_only_fields = (
            "id",
            "version",
            "status",
            "based_on",
            "created_at",
            "published_at",
            "rules",
        )


class DryRunLeadSerializer(ModelSerializer[DryRunLead]):
    class Meta:
        model = DryRunLead
        fields = (
            "lead_id",
            "move",
            "score_before",
            "score_after",
            "source",
            "owner_id",
            "team_id",
            "routed",
        )
        extra_kwargs = {
            "score_before": {"help_text": "Under the published model now (stored score without one)."},
            "owner_id": {"help_text": "Entering leads: who the assignment rules would pick now "
                         "(null: a team queue)."},
            "routed": {"help_text": "False until the run has routed its new MQLs (its last step)."},
        }  # fmt: skip


class ScoringRunSerializer(ModelSerializer[ScoringRun]):
    model_version = serializers.IntegerField(source="model.version", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ScoringRun
        fields = (
            "id",
            "model",
            "model_version",
            "kind",
            "status",
            "reason",
            "total",
            "done",
            "progress",
            "heartbeat_at",
            "cancel_requested",
            "written",
            "moved",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_progress(self, run: ScoringRun) -> float:
        return round(run.done / run.total, 4) if run.total else (1.0 if run.done else 0.0)


class OutcomesSerializer(serializers.Serializer[Any]):
    """Handovers opened in the window and how they ended (scoring.precision.Outcomes)."""

    handovers = serializers.IntegerField()
    decided = serializers.IntegerField()
    accepted = serializers.IntegerField()
    sql = serializers.IntegerField()
    won = serializers.IntegerField()
    accept_rate = serializers.FloatField(allow_null=True)
    sql_rate = serializers.FloatField(allow_null=True)
    win_rate = serializers.FloatField(allow_null=True)


class RulePrecisionSerializer(serializers.Serializer[Any]):
    rule = serializers.IntegerField(source="rule.pk")
    key = serializers.UUIDField(source="rule.key")
    name = serializers.CharField(source="rule.name")
    with_rule = OutcomesSerializer()
    without = OutcomesSerializer()
    lift = serializers.SerializerMethodField()

    def get_lift(self, obj: Any) -> dict[str, float | None]:
        """With the rule minus without it, in percentage points."""
        return {rate: obj.lift(rate) for rate in ("accept", "sql", "win")}


class PrecisionSerializer(serializers.Serializer[Any]):
    days = serializers.IntegerField()
    all = OutcomesSerializer()
    rules = RulePrecisionSerializer(many=True)


class BreakdownRuleSerializer(serializers.Serializer[dict[str, Any]]):
    rule_id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()
    dimension = serializers.ChoiceField(choices=["fit", "engagement"])
    points = serializers.IntegerField()
    count = serializers.IntegerField()
    undecayed_points = serializers.IntegerField()
    decay = serializers.IntegerField()
    per_event_points = serializers.IntegerField(allow_null=True)


class BreakdownSerializer(serializers.Serializer[dict[str, Any]]):
    lead_id = serializers.IntegerField()
    model_id = serializers.IntegerField()
    model_version = serializers.IntegerField()
    model_name = serializers.CharField()
    score = serializers.IntegerField()
    fit_score = serializers.IntegerField()
    engagement_score = serializers.IntegerField()
    grade = serializers.CharField()
    scored_at = serializers.DateTimeField()
    mql_armed = serializers.BooleanField()
    rules = BreakdownRuleSerializer(many=True)


class AccountScoreRuleSerializer(serializers.Serializer[dict[str, Any]]):
    rule_id = serializers.IntegerField()
    name = serializers.CharField()
    points = serializers.IntegerField()


class AccountScorePartsSerializer(serializers.Serializer[dict[str, Any]]):
    member_engagement = serializers.IntegerField(
        help_text="Members' engagement points summed, capped by the model's account_engagement_cap."
    )
    engaged_members = serializers.IntegerField(
        help_text="Engaged members (capped by account_member_cap) × account_member_points."
    )
    roles = serializers.IntegerField(
        help_text="Distinct buying roles (other than unknown) of engaged members × "
        "account_role_points."
    )


class AccountScoreMemberSerializer(serializers.Serializer[dict[str, Any]]):
    lead_id = serializers.IntegerField()
    engagement = serializers.IntegerField(help_text="The lead's engagement score when scored.")


class AccountScoreSerializer(serializers.Serializer[dict[str, Any]]):
    """An account's stored score: score = fit + engagement; engagement = the three parts."""

    account_id = serializers.IntegerField()
    model_id = serializers.IntegerField()
    model_version = serializers.IntegerField()
    model_name = serializers.CharField()
    score = serializers.IntegerField()
    fit_score = serializers.IntegerField()
    engagement_score = serializers.IntegerField()
    grade = serializers.CharField(help_text="From fit: A (best) to D.")
    scored_at = serializers.DateTimeField()
    rules = AccountScoreRuleSerializer(many=True, help_text="The account fit rules that matched.")
    parts = AccountScorePartsSerializer()
    engaged_members = serializers.IntegerField()
    engaged_roles = serializers.ListField(child=serializers.CharField())
    members_with_engagement = serializers.IntegerField(
        help_text="How many current members have engagement > 0 (members lists at most 100)."
    )
    members = AccountScoreMemberSerializer(
        many=True,
        help_text="Current members with engagement > 0 as they are now, most engaged first, "
        "at most 100.",
    )
