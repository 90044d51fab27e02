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
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from handover import rules
from handover.calendars import (
    DEFAULT_WORKING_HOURS,
    BusinessCalendar,
    CalendarError,
    parse_calendar,
)
from leads.lifecycle import Stage
from leads.models import CodedReason, Lead, Team


def _weekdays_default() -> dict[str, list[list[str]]]:
    return {k: [list(i) for i in v] for k, v in DEFAULT_WORKING_HOURS.items()}


def _secret_default() -> str:
    return rules.new_secret()  # (subscriptions made before the whsec_ format keep theirs)


# --- availability and assignment ------------------------------------------------------------------


class BusinessCalendarConfig(models.Model):
    """A business calendar: time zone, working hours per weekday, holidays."""

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    time_zone = models.CharField(max_length=64, default="UTC", verbose_name=_("time zone"))
    working_hours = models.JSONField(
        default=_weekdays_default,
        help_text=_('Weekday → intervals, e.g. {"mon": [["09:00", "12:30"], ["13:30", "17:00"]]}'),
        verbose_name=_("working hours"),
    )
    holidays = models.JSONField(
        default=list, blank=True, help_text=_('e.g. ["2026-12-25"]'), verbose_name=_("holidays")
    )

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
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
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="handover_profile",
        verbose_name=_("user"),
    )
    calendar = models.ForeignKey(
        BusinessCalendarConfig,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("calendar"),
    )
    accepts_leads = models.BooleanField(default=True, verbose_name=_("accepts leads"))

    class Meta:
        verbose_name = _("rep profile")
        verbose_name_plural = _("rep profiles")

    def __str__(self) -> str:
        return gettext("profile of %(user)s") % {"user": self.user}


class OutOfOffice(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="out_of_office",
        verbose_name=_("user"),
    )
    starts_at = models.DateTimeField(verbose_name=_("starts at"))
    ends_at = models.DateTimeField(verbose_name=_("ends at"))
    note = models.CharField(max_length=200, blank=True, verbose_name=_("note"))

    class Meta:
        verbose_name = _("out of office")
        verbose_name_plural = _("out of office")
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="ooo_order")
        ]
        indexes = [models.Index(fields=["user", "ends_at"], name="ooo_user_end_idx")]

    def __str__(self) -> str:
        return gettext("%(user)s away %(start)s → %(end)s") % {
            "user": self.user,
            "start": date_format(self.starts_at, "SHORT_DATE_FORMAT"),
            "end": date_format(self.ends_at, "SHORT_DATE_FORMAT"),
        }


class AssignmentRule(models.Model):
    """Evaluated in ``position`` order; the first rule that matches and has a rep free wins.

    Empty match lists match anything. Among the members who are active, not out of office,
    (optionally) inside their working hours and under the capacity cap, the one with the lowest
    assignments-in-period ÷ weight wins, ties to whoever was assigned longest ago: with equal
    weights that is round-robin, with weights it is a weighted rotation.
    """

    class Period(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    position = models.PositiveIntegerField(default=100, verbose_name=_("position"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    countries = models.JSONField(
        default=list, blank=True, help_text=_('ISO codes, e.g. ["DE"]'), verbose_name=_("countries")
    )
    industries = models.JSONField(default=list, blank=True, verbose_name=_("industries"))
    company_sizes = models.JSONField(default=list, blank=True, verbose_name=_("company sizes"))
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("team")
    )
    capacity = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Most new handovers per rep per period (empty: no cap)"),
        verbose_name=_("capacity"),
    )
    capacity_period = models.CharField(
        max_length=10, choices=Period.choices, default=Period.DAY, verbose_name=_("capacity period")
    )
    require_working_hours = models.BooleanField(
        default=False,
        help_text=_("Skip reps outside their calendar's working hours"),
        verbose_name=_("require working hours"),
    )
    account_owner_first = models.BooleanField(
        default=True,
        help_text=_(
            "A lead of an account with an owner goes to that owner, or to the account's team "
            "queue while the owner is away, before the rotation"
        ),
        verbose_name=_("account owner first"),
    )
    fallback_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Owner when the rule matches but no member is free (empty: the team queue)"),
        verbose_name=_("fallback owner"),
    )

    class Meta:
        ordering = ("position", "id")
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for name in ("countries", "industries", "company_sizes"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationError({name: gettext("A list of strings.")})
        self.countries = [c.strip().upper() for c in self.countries]


class AssignmentMember(models.Model):
    rule = models.ForeignKey(
        AssignmentRule, on_delete=models.CASCADE, related_name="members", verbose_name=_("rule")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    weight = models.PositiveIntegerField(default=1, verbose_name=_("weight"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    last_assigned_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("last assigned at")
    )

    class Meta:
        verbose_name = _("assignment member")
        verbose_name_plural = _("assignment members")
        constraints = [
            models.UniqueConstraint(fields=["rule", "user"], name="assignment_member_unique"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="assignment_weight_positive"),
        ]

    def __str__(self) -> str:
        return gettext("%(user)s in %(rule)s (weight %(weight)s)") % {
            "user": self.user,
            "rule": self.rule,
            "weight": self.weight,
        }


# --- handovers and rejection reasons -------------------------------------------------------------


class RejectionReason(CodedReason):
    """Why a rep rejected an MQL in the SAL inbox, and where that sends the lead."""

    class Route(models.TextChoices):
        NURTURE = "nurture", _("Recycle to nurture")
        DISQUALIFY = "disqualify", _("Disqualify")

    route = models.CharField(max_length=20, choices=Route.choices, verbose_name=_("route"))

    class Meta(CodedReason.Meta):
        verbose_name = _("rejection reason")
        verbose_name_plural = _("rejection reasons")


class Handover(models.Model):
    """Marketing hands one MQL to sales. At most one open handover per lead (DB constraint)."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled (lead moved elsewhere)")

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="handovers", verbose_name=_("lead")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handovers",
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("team")
    )
    rule = models.ForeignKey(
        AssignmentRule, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("rule")
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN, verbose_name=_("status")
    )
    opened_at = models.DateTimeField(verbose_name=_("opened at"))
    assigned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("assigned at"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    rejection_reason = models.ForeignKey(
        RejectionReason,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        verbose_name=_("rejection reason"),
    )
    reason_code = models.CharField(
        max_length=50, blank=True, verbose_name=_("reason code")
    )  # kept if the reason is renamed
    comment = models.TextField(blank=True, verbose_name=_("comment"))
    lead_source = models.CharField(
        max_length=100, blank=True, verbose_name=_("lead source")
    )  # for "rejections by source"
    # what became of the lead after this handover opened (rule precision counts them): the first
    # time it entered SQL, and Customer, at or after the opening; kept by the stage receiver
    reached_sql_at = models.DateTimeField(null=True, blank=True, verbose_name=_("reached SQL at"))
    won_at = models.DateTimeField(null=True, blank=True, verbose_name=_("won at"))

    class Meta:
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=Q(status="open"), name="handover_one_open_per_lead"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status"], name="handover_owner_status_idx"),
            models.Index(fields=["status", "opened_at"], name="handover_status_opened_idx"),
            # rule precision counts the days it has no fresh rollup for straight from here
            models.Index(fields=["opened_at"], name="handover_opened_idx"),
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


class HandoverRuleHit(models.Model):
    """A scoring rule the lead carried points from when its handover opened: what rule precision
    (``handover.rule_precision``) counts. Keyed by the rule's ``key``, which its copies in later
    model versions keep, so a rule's record outlives the version that scored the lead."""

    handover = models.ForeignKey(
        Handover, on_delete=models.CASCADE, related_name="rule_hits", verbose_name=_("handover")
    )
    rule_key = models.UUIDField(_("rule key"))
    points = models.IntegerField(_("points"))

    class Meta:
        verbose_name = _("rule hit at handover")
        verbose_name_plural = _("rule hits at handover")
        constraints = [
            models.UniqueConstraint(fields=["handover", "rule_key"], name="handoverrulehit_once")
        ]
        indexes = [models.Index(fields=["rule_key", "handover"], name="handoverrulehit_key_idx")]

    def __str__(self) -> str:
        return f"handover #{self.handover_id}: rule {self.rule_key} ({self.points:+d})"


class RulePrecisionDay(models.Model):
    """Rule precision's daily rollup (``handover.rule_precision``): for each rule key, and
    ``ALL_HANDOVERS`` for every handover, the handovers opened on ``day`` (UTC) and how they have
    ended so far. Rewritten per day by the refresh sweep from the handovers of its marked days."""

    rule_key = models.UUIDField(_("rule key"))
    day = models.DateField(_("day"))
    handovers = models.PositiveIntegerField(_("handovers"))
    decided = models.PositiveIntegerField(_("decided"))
    accepted = models.PositiveIntegerField(_("accepted"))
    sql = models.PositiveIntegerField(_("reached SQL"))
    won = models.PositiveIntegerField(_("won"))

    class Meta:
        verbose_name = _("rule precision day")
        verbose_name_plural = _("rule precision days")
        constraints = [
            models.UniqueConstraint(fields=["rule_key", "day"], name="ruleprecisionday_once")
        ]

    def __str__(self) -> str:
        return f"{self.rule_key} {self.day}: {self.handovers} handovers"


class RulePrecisionMark(models.Model):
    """A day whose rollup rows may be stale: some handover opened that day was opened, decided,
    reached SQL or Customer, or deleted. Written in the transaction of the change, one row per
    change (never an upsert: no writer waits on another's row); readers count a marked day from
    the handovers until the sweep has rewritten it and removed the marks it read."""

    day = models.DateField(_("day"), db_index=True)

    class Meta:
        verbose_name = _("rule precision mark")
        verbose_name_plural = _("rule precision marks")

    def __str__(self) -> str:
        return str(self.day)


class HandoverAssignment(models.Model):
    """Who owned a handover when, and why (rule, manager reassign, SLA escalation)."""

    handover = models.ForeignKey(
        Handover, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("handover")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assigned by"),
    )
    why = models.CharField(max_length=200, verbose_name=_("why"))
    at = models.DateTimeField(verbose_name=_("at"))

    class Meta:
        verbose_name = _("handover assignment")
        verbose_name_plural = _("handover assignments")

    def __str__(self) -> str:
        return f"{self.handover_id} → {self.owner_id} ({self.why})"


class AccountHandover(models.Model):
    """Marketing hands a marketing-qualified account (MQA) to its owner, as ``Handover`` does a
    lead: one open per account, accepted or rejected with a reason, an SLA deadline scanned by
    beat (``handover.account_handovers``). Its rows are the MQA log the account reports read;
    the tier and source are those in force when it opened."""

    Status = Handover.Status

    account = models.ForeignKey(
        "companies.Account",
        on_delete=models.CASCADE,
        related_name="handovers",
        verbose_name=_("account"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="account_handovers",
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("team")
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN, verbose_name=_("status")
    )
    opened_at = models.DateTimeField(verbose_name=_("opened at"))
    score = models.IntegerField(verbose_name=_("score"))
    grade = models.CharField(max_length=1, blank=True, verbose_name=_("grade"))
    why = models.CharField(max_length=200, verbose_name=_("why"))
    tier = models.CharField(max_length=1, blank=True, verbose_name=_("tier"))
    # the lead source of the member with the most engagement when it opened
    source = models.CharField(max_length=100, blank=True, verbose_name=_("source"))
    warn_at = models.DateTimeField(null=True, blank=True, verbose_name=_("warn at"))
    due_at = models.DateTimeField(null=True, blank=True, verbose_name=_("due at"))
    next_action_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next action at"))
    warned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("warned at"))
    breached_at = models.DateTimeField(null=True, blank=True, verbose_name=_("breached at"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    rejection_reason = models.ForeignKey(
        RejectionReason,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        verbose_name=_("rejection reason"),
    )
    comment = models.TextField(blank=True, verbose_name=_("comment"))

    class Meta:
        verbose_name = _("account handover")
        verbose_name_plural = _("account handovers")
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status="open"),
                name="accounthandover_one_open",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_action_at"],
                condition=Q(status="open", next_action_at__isnull=False),
                name="accounthandover_scan_idx",
            ),
            models.Index(fields=["owner", "status"], name="accounthandover_owner_idx"),
            models.Index(fields=["opened_at"], name="accounthandover_opened_idx"),
        ]

    def __str__(self) -> str:
        return f"account handover #{self.pk} of account {self.account_id} ({self.status})"


# --- qualification ------------------------------------------------------------------------------


def _validate_criteria(value: Any) -> None:
    try:
        rules.validate_criteria(value)
    except rules.RuleError as exc:
        raise ValidationError(str(exc)) from None


class QualificationFramework(models.Model):
    """A checklist (BANT, CHAMP, GPCTBA/C&I, or your own) with a pass rule."""

    code = models.SlugField(max_length=50, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    criteria = models.JSONField(validators=[_validate_criteria], verbose_name=_("criteria"))
    min_met = models.PositiveIntegerField(
        help_text=_("At least this many criteria met"), verbose_name=_("min met")
    )
    required = models.JSONField(
        default=list, blank=True, help_text=_("Keys that must be met"), verbose_name=_("required")
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    is_default = models.BooleanField(default=False, verbose_name=_("is default"))

    class Meta:
        verbose_name = _("qualification framework")
        verbose_name_plural = _("qualification frameworks")

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

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="checklists", verbose_name=_("lead")
    )
    framework = models.ForeignKey(
        QualificationFramework, on_delete=models.PROTECT, verbose_name=_("framework")
    )
    answers = models.JSONField(default=dict, verbose_name=_("answers"))
    passed = models.BooleanField(default=False, verbose_name=_("passed"))
    passed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("passed at"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("updated by"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("qualification checklist")
        verbose_name_plural = _("qualification checklists")
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

    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    stage = models.CharField(
        max_length=20, choices=[(s.value, s.label) for s in SLA_STAGES], verbose_name=_("stage")
    )
    calendar = models.ForeignKey(
        BusinessCalendarConfig, on_delete=models.PROTECT, verbose_name=_("calendar")
    )
    target_minutes = models.PositiveIntegerField(
        help_text=_("Business minutes to meet the SLA"), verbose_name=_("target minutes")
    )
    warn_before_minutes = models.PositiveIntegerField(
        default=0,
        help_text=_("Warn the owner this many business minutes before the deadline"),
        verbose_name=_("warn before minutes"),
    )
    escalation = models.JSONField(
        default=list,
        blank=True,
        validators=[_validate_escalation],
        help_text='[{"after_minutes": 0, "action": "remind_owner"}, '
        '{"after_minutes": 60, "action": "notify_manager"}, '
        '{"after_minutes": 240, "action": "reassign"}]',
        verbose_name=_("escalation"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
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
                {"warn_before_minutes": gettext("The warning must come before the deadline.")}
            )


class SlaTimer(models.Model):
    """One SLA clock on one lead in one stage. ``next_action_at`` is what the scanner claims."""

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        MET = "met", _("Met")
        CANCELLED = "cancelled", _("Cancelled")
        SUPERSEDED = "superseded", _("Superseded (reassigned by escalation)")

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="sla_timers", verbose_name=_("lead")
    )
    handover = models.ForeignKey(
        Handover,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="timers",
        verbose_name=_("handover"),
    )
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, verbose_name=_("policy"))
    stage = models.CharField(max_length=20, choices=Stage.choices, verbose_name=_("stage"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.RUNNING, verbose_name=_("state")
    )
    started_at = models.DateTimeField(verbose_name=_("started at"))
    warn_at = models.DateTimeField(null=True, blank=True, verbose_name=_("warn at"))
    due_at = models.DateTimeField(verbose_name=_("due at"))
    next_action_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next action at"))
    warned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("warned at"))
    breached_at = models.DateTimeField(null=True, blank=True, verbose_name=_("breached at"))
    escalation_level = models.PositiveSmallIntegerField(
        default=0, verbose_name=_("escalation level")
    )  # ladder steps fired
    stopped_at = models.DateTimeField(null=True, blank=True, verbose_name=_("stopped at"))

    class Meta:
        verbose_name = _("sla timer")
        verbose_name_plural = _("sla timers")
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
        WARNING = "warning", _("Warning")
        BREACH = "breach", _("Breach")
        REMIND_OWNER = "remind_owner", _("Reminded the owner")
        NOTIFY_MANAGER = "notify_manager", _("Notified the manager")
        REASSIGN = "reassign", _("Reassigned")

    timer = models.ForeignKey(
        SlaTimer, on_delete=models.CASCADE, related_name="events", verbose_name=_("timer")
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, verbose_name=_("kind"))
    step = models.PositiveSmallIntegerField(default=0, verbose_name=_("step"))
    scheduled_for = models.DateTimeField(verbose_name=_("scheduled for"))
    fired_at = models.DateTimeField(verbose_name=_("fired at"))
    done_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("done at")
    )  # reassign: when it was carried out

    class Meta:
        verbose_name = _("sla event")
        verbose_name_plural = _("sla events")
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
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    kind = models.CharField(max_length=40, verbose_name=_("kind"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    body = models.TextField(blank=True, verbose_name=_("body"))
    link = models.CharField(max_length=500, blank=True, verbose_name=_("link"))
    # No database-level FK: inserting a notification must not take a KEY SHARE lock on a lead or
    # handover that an accept holds FOR UPDATE while waiting for the scanner's timer lock.
    lead = models.ForeignKey(
        Lead,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        verbose_name=_("lead"),
    )
    handover = models.ForeignKey(
        Handover,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        verbose_name=_("handover"),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
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
    ACCOUNT_MQA = "account.mqa", "account.mqa"
    ACCOUNT_MEMBER_ADDED = "account.member_added", "account.member_added"
    ACCOUNT_HANDOVER_ACCEPTED = "account.handover_accepted", "account.handover_accepted"
    ACCOUNT_HANDOVER_REJECTED = "account.handover_rejected", "account.handover_rejected"
    ACCOUNT_SLA_BREACHED = "account.sla_breached", "account.sla_breached"


def _validate_event_types(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(gettext("Subscribe to at least one event type."))
    unknown = sorted(set(map(str, value)) - set(EventType.values))
    if unknown:
        raise ValidationError(
            # Translators: both placeholders are comma-separated event type codes
            gettext("Unknown event type(s): %(unknown)s; expected %(expected)s.")
            % {"unknown": ", ".join(unknown), "expected": ", ".join(EventType.values)}
        )


class WebhookSubscription(models.Model):
    url = models.URLField(max_length=500, verbose_name=_("url"))
    description = models.CharField(max_length=200, blank=True, verbose_name=_("description"))
    event_types = models.JSONField(
        validators=[_validate_event_types], verbose_name=_("event types")
    )
    secret = models.CharField(max_length=100, default=_secret_default, verbose_name=_("secret"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One event as sent to subscribers (its id is what receivers deduplicate on)."""

    event_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=_("event id")
    )
    type = models.CharField(max_length=40, choices=EventType.choices, verbose_name=_("type"))
    payload = models.JSONField(verbose_name=_("payload"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class Delivery(models.Model):
    """An outbox row: one e-mail or one webhook POST to deliver, retried until done or dead."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Webhook")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        DEAD = "dead", _("Gave up")

    channel = models.CharField(max_length=10, choices=Channel.choices, verbose_name=_("channel"))
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, verbose_name=_("status")
    )
    event = models.ForeignKey(
        WebhookEvent,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("event"),
    )
    subscription = models.ForeignKey(
        WebhookSubscription,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=_("subscription"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("recipient"),
    )
    payload = models.JSONField(
        default=dict, verbose_name=_("payload")
    )  # e-mail: template + context
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    max_attempts = models.PositiveSmallIntegerField(
        default=rules.MAX_ATTEMPTS, verbose_name=_("max attempts")
    )
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"))
    locked_until = models.DateTimeField(null=True, blank=True, verbose_name=_("locked until"))
    enqueued_at = models.DateTimeField(null=True, blank=True, verbose_name=_("enqueued at"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    last_error = models.CharField(max_length=500, blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
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

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="log", verbose_name=_("delivery")
    )
    number = models.PositiveSmallIntegerField(verbose_name=_("number"))
    started_at = models.DateTimeField(verbose_name=_("started at"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration ms"))
    ok = models.BooleanField(verbose_name=_("ok"))
    status_code = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("status code")
    )
    error = models.CharField(max_length=500, blank=True, verbose_name=_("error"))
    response_excerpt = models.CharField(
        max_length=500, blank=True, verbose_name=_("response excerpt")
    )

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ("delivery", "number")

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
