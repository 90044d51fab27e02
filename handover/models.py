"""Handover: assignment rules, handovers, qualification checklists, SLA timers, the outbox.

Configuration rows (rules, reasons, frameworks, calendars, policies, subscriptions) are data
edited in the admin/API; their field validators call the pure modules (``calendars``, ``rules``)
so a bad row never gets saved. Work rows (handovers, timers, deliveries) are written only by
``handover.services`` / ``handover.sla`` / ``handover.outbox``.
"""

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from handover import rules
from handover.calendars import (
    DEFAULT_WORKING_HOURS,
    BusinessCalendar,
    CalendarError,
    parse_calendar,
)
from leads.lifecycle import Stage
from leads.models import Lead, Team


def _weekdays_default() -> dict[str, list[list[str]]]:
    return {k: [list(i) for i in v] for k, v in DEFAULT_WORKING_HOURS.items()}


def _secret_default() -> str:
    return rules.new_secret()  # (subscriptions made before the whsec_ format keep theirs)


# --- availability and assignment ------------------------------------------------------------------


class BusinessCalendarConfig(models.Model):
    """A business calendar: time zone, working hours per weekday, holidays."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    working_hours = models.JSONField(
        default=_weekdays_default,
        help_text='Weekday → intervals, e.g. {"mon": [["09:00", "12:30"], ["13:30", "17:00"]]}',
    )
    holidays = models.JSONField(default=list, blank=True, help_text='e.g. ["2026-12-25"]')

    class Meta:
        verbose_name = "business calendar"
        db_table = "handover_calendar"

    def __str__(self) -> str:
        return f"{self.name} ({self.time_zone})"

    def clean(self) -> None:
        try:
            self.as_calendar()
        except CalendarError as exc:
            raise ValidationError({exc.field: str(exc)}) from None

    def as_calendar(self) -> BusinessCalendar:
        return parse_calendar(
            time_zone=self.time_zone, working_hours=self.working_hours, holidays=self.holidays
        )


class RepProfile(models.Model):
    """A rep's working calendar (for availability) and whether they take new leads at all."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="handover_profile"
    )
    calendar = models.ForeignKey(
        BusinessCalendarConfig, null=True, blank=True, on_delete=models.SET_NULL
    )
    accepts_leads = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"profile of {self.user}"


class OutOfOffice(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="out_of_office"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "out of office"
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="ooo_order")
        ]
        indexes = [models.Index(fields=["user", "ends_at"], name="ooo_user_end_idx")]

    def __str__(self) -> str:
        return f"{self.user} away {self.starts_at:%Y-%m-%d} → {self.ends_at:%Y-%m-%d}"


class AssignmentRule(models.Model):
    """Evaluated in ``position`` order; the first rule that matches and has a rep free wins.

    Empty match lists match anything. Among the members who are active, not out of office,
    (optionally) inside their working hours and under the capacity cap, the one with the lowest
    assignments-in-period ÷ weight wins, ties to whoever was assigned longest ago: with equal
    weights that is round-robin, with weights it is a weighted rotation.
    """

    class Period(models.TextChoices):
        DAY = "day", "Day"
        WEEK = "week", "Week"
        MONTH = "month", "Month"

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    countries = models.JSONField(default=list, blank=True, help_text='ISO codes, e.g. ["DE"]')
    industries = models.JSONField(default=list, blank=True)
    company_sizes = models.JSONField(default=list, blank=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most new handovers per rep per period (empty: no cap)"
    )
    capacity_period = models.CharField(max_length=10, choices=Period.choices, default=Period.DAY)
    require_working_hours = models.BooleanField(
        default=False, help_text="Skip reps outside their calendar's working hours"
    )
    fallback_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Owner when the rule matches but no member is free (empty: the team queue)",
    )

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for name in ("countries", "industries", "company_sizes"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationError({name: "A list of strings."})
        self.countries = [c.strip().upper() for c in self.countries]


class AssignmentMember(models.Model):
    rule = models.ForeignKey(AssignmentRule, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    weight = models.PositiveIntegerField(default=1)
    active = models.BooleanField(default=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "user"], name="assignment_member_unique"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="assignment_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.rule} (weight {self.weight})"


# --- handovers and rejection reasons -------------------------------------------------------------


class RejectionReason(models.Model):
    class Route(models.TextChoices):
        NURTURE = "nurture", "Recycle to nurture"
        DISQUALIFY = "disqualify", "Disqualify"

    code = models.SlugField(max_length=50, unique=True)
    label = models.CharField(max_length=100)
    route = models.CharField(max_length=20, choices=Route.choices)
    reset_engagement = models.BooleanField(
        default=False, help_text="Engagement restarts from zero (recycled leads earn MQL again)"
    )
    requires_comment = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=100)

    class Meta:
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.label


class Handover(models.Model):
    """Marketing hands one MQL to sales. At most one open handover per lead (DB constraint)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled (lead moved elsewhere)"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="handovers")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handovers",
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    rule = models.ForeignKey(AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField()
    assigned_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejection_reason = models.ForeignKey(
        RejectionReason, null=True, blank=True, on_delete=models.PROTECT
    )
    reason_code = models.CharField(max_length=50, blank=True)  # kept if the reason is renamed
    comment = models.TextField(blank=True)
    lead_source = models.CharField(max_length=100, blank=True)  # for "rejections by source"

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=Q(status="open"), name="handover_one_open_per_lead"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status"], name="handover_owner_status_idx"),
            models.Index(fields=["status", "opened_at"], name="handover_status_opened_idx"),
        ]
        permissions = [
            ("decide_sal", "Can accept or reject handovers (MQL → SAL)"),
            ("reassign_handover", "Can reassign handovers and leads to another rep"),
            ("manage_handover_settings", "Can edit assignment, reasons, frameworks and SLAs"),
            ("manage_webhooks", "Can manage webhook subscriptions and redeliver"),
            ("qualify_lead", "Can fill qualification checklists"),
        ]

    def __str__(self) -> str:
        return f"handover #{self.pk} of lead {self.lead_id} ({self.status})"


class HandoverAssignment(models.Model):
    """Who owned a handover when, and why (rule, manager reassign, SLA escalation)."""

    handover = models.ForeignKey(Handover, on_delete=models.CASCADE, related_name="assignments")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    why = models.CharField(max_length=200)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.handover_id} → {self.owner_id} ({self.why})"


# --- qualification ------------------------------------------------------------------------------


def _validate_criteria(value: Any) -> None:
    try:
        rules.validate_criteria(value)
    except rules.RuleError as exc:
        raise ValidationError(str(exc)) from None


class QualificationFramework(models.Model):
    """A checklist (BANT, CHAMP, GPCTBA/C&I, or your own) with a pass rule."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    criteria = models.JSONField(validators=[_validate_criteria])
    min_met = models.PositiveIntegerField(help_text="At least this many criteria met")
    required = models.JSONField(default=list, blank=True, help_text="Keys that must be met")
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            criteria = rules.validate_criteria(self.criteria)
            rules.validate_pass_rule(
                criteria=criteria, min_met=self.min_met, required=self.required
            )
        except rules.RuleError as exc:
            raise ValidationError({exc.field: str(exc)}) from None


class QualificationChecklist(models.Model):
    """A lead's answers to one framework. The answers stay on the lead after SQL."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="checklists")
    framework = models.ForeignKey(QualificationFramework, on_delete=models.PROTECT)
    answers = models.JSONField(default=dict)
    passed = models.BooleanField(default=False)
    passed_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lead", "framework"], name="checklist_lead_framework")
        ]

    def __str__(self) -> str:
        return f"{self.framework} for lead {self.lead_id}"


# --- SLA -----------------------------------------------------------------------------------------


def _validate_escalation(value: Any) -> None:
    try:
        rules.validate_escalation(value)
    except rules.RuleError as exc:
        raise ValidationError(str(exc)) from None


class SlaPolicy(models.Model):
    """How long a lead may sit in a stage, in business minutes of a calendar, and what then."""

    SLA_STAGES = (Stage.MQL, Stage.SAL, Stage.SQL)

    name = models.CharField(max_length=100, unique=True)
    stage = models.CharField(max_length=20, choices=[(s.value, s.label) for s in SLA_STAGES])
    calendar = models.ForeignKey(BusinessCalendarConfig, on_delete=models.PROTECT)
    target_minutes = models.PositiveIntegerField(help_text="Business minutes to meet the SLA")
    warn_before_minutes = models.PositiveIntegerField(
        default=0, help_text="Warn the owner this many business minutes before the deadline"
    )
    escalation = models.JSONField(
        default=list,
        blank=True,
        validators=[_validate_escalation],
        help_text='[{"after_minutes": 0, "action": "remind_owner"}, '
        '{"after_minutes": 60, "action": "notify_manager"}, '
        '{"after_minutes": 240, "action": "reassign"}]',
    )
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["stage"], condition=Q(active=True), name="sla_one_active_policy_per_stage"
            ),
            models.CheckConstraint(condition=Q(target_minutes__gt=0), name="sla_target_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.warn_before_minutes >= (self.target_minutes or 0):
            raise ValidationError(
                {"warn_before_minutes": "The warning must come before the deadline."}
            )


class SlaTimer(models.Model):
    """One SLA clock on one lead in one stage. ``next_action_at`` is what the scanner claims."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        MET = "met", "Met"
        CANCELLED = "cancelled", "Cancelled"
        SUPERSEDED = "superseded", "Superseded (reassigned by escalation)"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="sla_timers")
    handover = models.ForeignKey(
        Handover, null=True, blank=True, on_delete=models.CASCADE, related_name="timers"
    )
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT)
    stage = models.CharField(max_length=20, choices=Stage.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField()
    warn_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField()
    next_action_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)  # ladder steps fired
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # the scanner: running timers by next action time (a small, hot partial index)
            models.Index(
                fields=["next_action_at"],
                condition=Q(state="running", next_action_at__isnull=False),
                name="slatimer_scan_idx",
            ),
            models.Index(fields=["lead", "state"], name="slatimer_lead_state_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "stage"],
                condition=Q(state="running"),
                name="slatimer_one_running_per_lead_stage",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stage} SLA of lead {self.lead_id} due {self.due_at:%Y-%m-%d %H:%M}"


class SlaEvent(models.Model):
    """What a timer fired (warning, breach, each escalation step): unique, so each fires once."""

    class Kind(models.TextChoices):
        WARNING = "warning", "Warning"
        BREACH = "breach", "Breach"
        REMIND_OWNER = "remind_owner", "Reminded the owner"
        NOTIFY_MANAGER = "notify_manager", "Notified the manager"
        REASSIGN = "reassign", "Reassigned"

    timer = models.ForeignKey(SlaTimer, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    step = models.PositiveSmallIntegerField(default=0)
    scheduled_for = models.DateTimeField()
    fired_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)  # reassign: when it was carried out

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["timer", "kind", "step"], name="slaevent_once")
        ]
        indexes = [
            models.Index(
                fields=["fired_at"],
                condition=Q(kind="reassign", done_at__isnull=True),
                name="slaevent_pending_reassign_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of timer {self.timer_id}"


# --- notifications (in-app) and the outbox (e-mail, webhooks) ------------------------------------


class Notification(models.Model):
    """The in-app list. Written in the same transaction as its cause; nothing to deliver."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    # No database-level FK: inserting a notification must not take a KEY SHARE lock on a lead or
    # handover that an accept holds FOR UPDATE while waiting for the scanner's timer lock.
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, db_constraint=False
    )
    handover = models.ForeignKey(
        Handover, null=True, blank=True, on_delete=models.CASCADE, db_constraint=False
    )
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["recipient", "-id"], name="notification_inbox_idx"),
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"


class EventType(models.TextChoices):
    LEAD_STAGE_CHANGED = "lead.stage_changed", "lead.stage_changed"
    LEAD_MQL = "lead.mql", "lead.mql"
    HANDOVER_ASSIGNED = "handover.assigned", "handover.assigned"
    HANDOVER_ACCEPTED = "handover.accepted", "handover.accepted"
    HANDOVER_REJECTED = "handover.rejected", "handover.rejected"
    SLA_WARNING = "sla.warning", "sla.warning"
    SLA_BREACHED = "sla.breached", "sla.breached"


def _validate_event_types(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Subscribe to at least one event type.")
    unknown = sorted(set(map(str, value)) - set(EventType.values))
    if unknown:
        raise ValidationError(
            f"Unknown event type(s): {', '.join(unknown)}; expected {', '.join(EventType.values)}."
        )


class WebhookSubscription(models.Model):
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(validators=[_validate_event_types])
    secret = models.CharField(max_length=100, default=_secret_default)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One event as sent to subscribers (its id is what receivers deduplicate on)."""

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class Delivery(models.Model):
    """An outbox row: one e-mail or one webhook POST to deliver, retried until done or dead."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Gave up"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    event = models.ForeignKey(
        WebhookEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    subscription = models.ForeignKey(
        WebhookSubscription,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    payload = models.JSONField(default=dict)  # e-mail: template + context
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=rules.MAX_ATTEMPTS)
    next_attempt_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="delivery_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery #{self.pk} ({self.status})"


class DeliveryAttempt(models.Model):
    """The delivery log: one row per attempt, with what the destination answered."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ("delivery", "number")

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
