from rest_framework import serializers

from predictive.models import PredictiveModel, Target


class PredictiveModelSerializer(serializers.ModelSerializer[PredictiveModel]):
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
