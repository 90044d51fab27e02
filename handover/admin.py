from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from handover import outbox, rules
from handover.models import (
    AssignmentMember,
    AssignmentRule,
    BusinessCalendarConfig,
    Delivery,
    DeliveryAttempt,
    Handover,
    HandoverAssignment,
    Notification,
    OutOfOffice,
    QualificationChecklist,
    QualificationFramework,
    RejectionReason,
    RepProfile,
    SlaEvent,
    SlaPolicy,
    SlaTimer,
    WebhookEvent,
    WebhookSubscription,
)
from leadflow.api.auth import request_user
from leadflow.exceptions import DomainError


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Work rows change only through services (audited); the admin shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(BusinessCalendarConfig)
class CalendarAdmin(admin.ModelAdmin[BusinessCalendarConfig]):
    list_display = ("name", "time_zone")


@admin.register(RepProfile)
class RepProfileAdmin(admin.ModelAdmin[RepProfile]):
    list_display = ("user", "calendar", "accepts_leads")
    raw_id_fields = ("user",)


@admin.register(OutOfOffice)
class OutOfOfficeAdmin(admin.ModelAdmin[OutOfOffice]):
    list_display = ("user", "starts_at", "ends_at", "note")
    raw_id_fields = ("user",)


class MemberInline(admin.TabularInline[AssignmentMember, AssignmentRule]):
    model = AssignmentMember
    extra = 1
    raw_id_fields = ("user",)
    readonly_fields = ("last_assigned_at",)


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin[AssignmentRule]):
    list_display = ("name", "position", "active", "team", "capacity", "capacity_period")
    list_editable = ("position", "active")
    inlines = (MemberInline,)


@admin.register(RejectionReason)
class RejectionReasonAdmin(admin.ModelAdmin[RejectionReason]):
    list_display = ("code", "label", "route", "reset_engagement", "requires_comment", "active")
    list_editable = ("active",)


@admin.register(QualificationFramework)
class FrameworkAdmin(admin.ModelAdmin[QualificationFramework]):
    list_display = ("code", "name", "min_met", "active", "is_default")


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin[SlaPolicy]):
    list_display = ("name", "stage", "calendar", "target_minutes", "warn_before_minutes", "active")


class AssignmentHistoryInline(admin.TabularInline[HandoverAssignment, Handover]):
    model = HandoverAssignment
    extra = 0
    can_delete = False
    readonly_fields = ("owner", "assigned_by", "why", "at")

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Handover)
class HandoverAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "lead",
        "owner",
        "team",
        "status",
        "opened_at",
        "decided_at",
        "reason_code",
    )
    list_filter = ("status", "reason_code", "lead_source")
    raw_id_fields = ("lead",)
    inlines = (AssignmentHistoryInline,)


@admin.register(QualificationChecklist)
class ChecklistAdmin(ReadOnlyAdmin):
    list_display = ("lead", "framework", "passed", "passed_at", "updated_by")
    raw_id_fields = ("lead",)


class SlaEventInline(admin.TabularInline[SlaEvent, SlaTimer]):
    model = SlaEvent
    extra = 0
    readonly_fields = ("kind", "step", "scheduled_for", "fired_at", "done_at")


@admin.register(SlaTimer)
class SlaTimerAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "lead",
        "stage",
        "owner",
        "state",
        "due_at",
        "breached_at",
        "escalation_level",
    )
    list_filter = ("state", "stage")
    raw_id_fields = ("lead",)
    inlines = (SlaEventInline,)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "recipient", "kind", "title", "created_at", "read_at")
    list_filter = ("kind",)


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin[WebhookSubscription]):
    list_display = ("url", "description", "active", "created_at")
    exclude = ("secret",)
    readonly_fields = ("secret_hint",)
    # A destination typed without a scheme is HTTPS (Django 6's default; explicit until then).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description=_("Secret"))
    def secret_hint(self, subscription: WebhookSubscription) -> str:
        if not subscription.pk:
            return gettext("Generated when you save; shown once.")
        return rules.secret_hint(subscription.secret)

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if not change:  # the only time the secret is shown (docs/webhooks.md, verifying)
            self.message_user(
                request,
                gettext(
                    "Signing secret for %(url)s: %(secret)s — copy it now, it is not shown again."
                )
                % {"url": obj.url, "secret": obj.secret},
                messages.WARNING,
            )


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "type", "created_at")
    list_filter = ("type",)


class AttemptInline(admin.TabularInline[DeliveryAttempt, Delivery]):
    model = DeliveryAttempt
    extra = 0
    readonly_fields = (
        "number",
        "started_at",
        "duration_ms",
        "ok",
        "status_code",
        "error",
        "response_excerpt",
    )


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "channel",
        "status",
        "event",
        "subscription",
        "recipient",
        "attempts",
        "next_attempt_at",
    )
    list_filter = ("status", "channel")
    inlines = (AttemptInline,)
    actions = ("redeliver",)

    @admin.action(description=_("Redeliver the selected deliveries"))
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for pk in queryset.values_list("pk", flat=True):
            try:
                outbox.delivery_redeliver(
                    delivery_id=pk, actor=request_user(request), request=request
                )
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{pk}: {exc.message}", messages.WARNING)
        self.message_user(
            request,
            # English said "deliveries" for one too, and still does (the same two forms)
            ngettext(
                "Queued %(count)s deliveries again.", "Queued %(count)s deliveries again.", done
            )
            % {"count": done},
        )
