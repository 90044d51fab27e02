from datetime import datetime

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from leads.models import Activity, Identity, Lead, StageChange, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ("name", "manager")
    filter_horizontal = ("members",)


class IdentityInline(admin.TabularInline[Identity, Lead]):
    model = Identity
    extra = 0


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin[Lead]):
    list_display = ("id", "email", "company", "stage", "score", "grade", "owner", "source")
    list_filter = ("stage", "grade", "source")
    search_fields = ("email", "external_id", "company", "last_name")
    # stage moves only through the lifecycle service (audited); scores only from scoring
    readonly_fields = (
        "stage",
        "stage_changed_at",
        "score",
        "fit_score",
        "engagement_score",
        "grade",
        "scored_at",
        "awaiting_rescore_since",
    )
    raw_id_fields = ("owner",)
    inlines = (IdentityInline,)

    @admin.display(description=_("Awaiting rescore since"))
    def awaiting_rescore_since(self, lead: Lead) -> datetime | None:
        oldest = lead.rescore_marks.order_by("pk").first()
        return oldest.marked_at if oldest else None


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin[Activity]):
    list_display = ("id", "lead", "kind", "name", "occurred_at", "source")
    list_filter = ("kind",)
    raw_id_fields = ("lead",)


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin[StageChange]):
    """Read-only: the stage log is append-only."""

    list_display = ("id", "lead", "from_stage", "to_stage", "actor_kind", "source", "changed_at")
    list_filter = ("to_stage", "source")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
