from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from leadflow.api.serializers import ModelSerializer
from predictive.models import PredictiveModel, Target, TrainingRun


class PredictiveModelSerializer(ModelSerializer[PredictiveModel]):
    version = serializers.IntegerField(read_only=True)

    class Meta:
        model = PredictiveModel
        fields = [
            "id",
            "version",
            "created_at",
            "target",
            "algorithm",
            "metrics",
            "features",
            "params",
            "n_samples",
            "n_positive",
            "sklearn_version",
            "is_active",
            "decile_edges",
            "scored_at",
        ]
        read_only_fields = fields


class TrainInputSerializer(serializers.Serializer[dict[str, str]]):
    target = serializers.ChoiceField(choices=Target.choices, required=False)


class FactorSerializer(serializers.Serializer[dict[str, object]]):
    feature = serializers.CharField()
    log_odds = serializers.FloatField(help_text=_("added to the calibrated log-odds"))


class LeadPredictionSerializer(serializers.Serializer[dict[str, object]]):
    """The response of GET /api/v1/predictive/leads/{id}/ (documentation only)."""

    lead = serializers.IntegerField()
    model_version = serializers.IntegerField()
    target = serializers.ChoiceField(choices=Target.choices)
    algorithm = serializers.CharField()
    probability = serializers.FloatField()
    stored_probability = serializers.FloatField(allow_null=True)
    decile = serializers.IntegerField(allow_null=True)
    base_log_odds = serializers.FloatField()
    factors_up = FactorSerializer(many=True)
    factors_down = FactorSerializer(many=True)
    contributions = serializers.DictField(child=serializers.FloatField())
    values = serializers.DictField()


class TrainQueuedSerializer(serializers.Serializer[dict[str, object]]):
    status = serializers.CharField()
    run = serializers.IntegerField(help_text=_("the TrainingRun: GET training-runs/{run}/"))
    closed_outcomes = serializers.IntegerField()
    positive = serializers.IntegerField()


class TrainingRunSerializer(ModelSerializer[TrainingRun]):
    percent = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id", "status", "phase", "target", "model", "done", "total", "percent",
            "heartbeat_at", "cancel_requested", "error", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields
