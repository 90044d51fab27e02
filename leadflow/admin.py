from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from leadflow.models import AuditEvent, User, WorkerHeartbeat

admin.site.register(User, UserAdmin)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("name", "seen_at")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the audit log is evidence, nobody edits it."""

    list_display = ("at", "actor_label", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action",)
    search_fields = ("actor_label", "action", "target_id")
    date_hierarchy = "at"

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
