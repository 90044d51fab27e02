from django.contrib import admin

from predictive.models import PredictiveModel


@admin.register(PredictiveModel)
class PredictiveModelAdmin(admin.ModelAdmin[PredictiveModel]):
    list_display = ("id", "created_at", "target", "algorithm", "n_samples", "is_active")
    exclude = ("artefact",)
    readonly_fields = [f.name for f in PredictiveModel._meta.fields if f.name != "artefact"]

    def has_add_permission(self, request: object) -> bool:
        return False
