from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from privacy.models import (
    BlockedIdentifier,
    ConsentEvent,
    DuplicatePair,
    ImportJob,
    ImportRowError,
    MergeRecord,
    SavedMapping,
)


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Records written by services only: viewable, never edited by hand."""

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class ImportRowErrorInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ImportRowError
    extra = 0
    can_delete = False
    readonly_fields = ("row", "column", "value", "message", "skipped")
    max_num = 0


@admin.register(ImportJob)
class ImportJobAdmin(_ReadOnly):
    list_display = ("id", "filename", "status", "dry_run", "rows_total", "created", "updated",
                    "skipped", "failed", "created_by", "created_at")  # fmt: skip
    list_filter = ("status", "dry_run", "policy")
    inlines = (ImportRowErrorInline,)
    actions = ("requeue",)

    @admin.action(description=_("Re-queue imports left running by a stopped worker"))
    def requeue(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        from privacy.imports import import_job_requeue

        done = sum(import_job_requeue(job_id=job.pk) for job in queryset)
        # Translators: English keeps "import(s)" in both forms; give each plural form its own.
        text = ngettext(
            "%(count)d import(s) queued again.", "%(count)d import(s) queued again.", done
        ) % {"count": done}
        self.message_user(request, text, messages.SUCCESS)


@admin.register(SavedMapping)
class SavedMappingAdmin(admin.ModelAdmin[SavedMapping]):
    list_display = ("name", "created_by", "created_at")


@admin.register(ConsentEvent)
class ConsentEventAdmin(_ReadOnly):
    list_display = ("lead", "channel", "granted", "source", "at")
    list_filter = ("channel", "granted")
    raw_id_fields = ("lead",)


@admin.register(BlockedIdentifier)
class BlockedIdentifierAdmin(_ReadOnly):
    list_display = ("kind", "digest", "created_at")
    list_filter = ("kind",)


@admin.register(DuplicatePair)
class DuplicatePairAdmin(_ReadOnly):
    list_display = ("lead_a", "lead_b", "reason", "similarity", "status", "found_at")
    list_filter = ("reason", "status")
    raw_id_fields = ("lead_a", "lead_b")


@admin.register(MergeRecord)
class MergeRecordAdmin(_ReadOnly):
    list_display = ("survivor", "merged_lead_id", "actor", "at")
    raw_id_fields = ("survivor",)
