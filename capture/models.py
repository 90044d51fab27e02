"""Lead capture: forms a marketer builds, their consent texts, what visitors send.

A ``Form`` is addressed in public by ``public_id`` (never its primary key). Its ``ConsentText``
rows are versioned and immutable: changing a text adds a version, and every ``ConsentRecord``
points at the exact version the visitor saw. A ``Submission`` is a valid post (a lead was created
or updated, or waits for its double opt-in click); a ``Rejection`` is everything refused, with
the reason, and is never a lead. ``FormDay`` counts what only the browser sees (views, starts).
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leadflow.models import TimeStampedModel
from leads.models import ActivityKind, Lead
from privacy.models import Channel


def new_public_id() -> str:
    return secrets.token_urlsafe(9)  # 12 URL-safe characters


class IpStorage(models.TextChoices):
    """How much of a visitor's IP address a consent record keeps."""

    FULL = "full", _("Full address")
    TRUNCATED = "truncated", _("Truncated (last IPv4 octet, last 80 IPv6 bits zeroed)")
    NONE = "none", _("Not stored")


class Form(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LIVE = "live", _("Live")
        ARCHIVED = "archived", _("Archived")

    public_id = models.CharField(
        _("public id"), max_length=20, unique=True, default=new_public_id, editable=False
    )
    name = models.CharField(_("name"), max_length=120)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    # one origin per line (scheme://host[:port]); the script embed and CORS accept only these
    allowed_origins = models.TextField(_("allowed origins"), blank=True)
    submit_label = models.CharField(_("submit button"), max_length=60, blank=True)
    thank_you_message = models.TextField(_("thank-you message"), blank=True)
    redirect_url = models.URLField(_("redirect after submitting"), blank=True)
    activity_kind = models.CharField(
        _("scores as"),
        max_length=30,
        choices=ActivityKind.choices,
        default=ActivityKind.FORM_SUBMIT,
    )
    double_opt_in = models.BooleanField(_("double opt-in"), default=False)
    # how many not-yet-answered progressive fields a known visitor is asked; 0 = off
    progressive_slots = models.PositiveSmallIntegerField(_("progressive fields shown"), default=0)
    min_fill_seconds = models.PositiveSmallIntegerField(_("minimum fill time (s)"), default=3)
    # a plain HTML <form> on a static site cannot fetch the challenge (capture.challenge): off,
    # such a post is shown again on LeadFlow's own page, which solves it, before it counts
    accepts_plain_posts = models.BooleanField(_("accept plain HTML posts"), default=False)
    ip_storage = models.CharField(
        _("IP address in consent records"),
        max_length=10,
        choices=IpStorage.choices,
        default=IpStorage.TRUNCATED,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        verbose_name = _("form")
        verbose_name_plural = _("forms")
        ordering = ("name", "id")
        permissions = [("manage_forms", "Can build and publish capture forms")]

    def __str__(self) -> str:
        return self.name

    def origins(self) -> list[str]:
        return [
            line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()
        ]


class FieldKind(models.TextChoices):
    TEXT = "text", _("Text")
    EMAIL = "email", _("E-mail")
    TEL = "tel", _("Phone")
    TEXTAREA = "textarea", _("Long text")
    SELECT = "select", _("Choice")
    CHECKBOX = "checkbox", _("Checkbox")
    HIDDEN = "hidden", _("Hidden")


class HiddenSource(models.TextChoices):
    """Where a hidden field's value comes from on the page that shows the form."""

    UTM_SOURCE = "utm_source", "utm_source"
    UTM_MEDIUM = "utm_medium", "utm_medium"
    UTM_CAMPAIGN = "utm_campaign", "utm_campaign"
    UTM_TERM = "utm_term", "utm_term"
    UTM_CONTENT = "utm_content", "utm_content"
    REFERRER = "referrer", _("Referrer")
    PAGE_URL = "page_url", _("Page URL")
    FIXED = "fixed", _("Fixed value")


class FormField(models.Model):
    form = models.ForeignKey(
        Form, on_delete=models.CASCADE, related_name="fields", verbose_name=_("form")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    # the Segment trait the answer becomes (email, firstName, company, …, or any trait name):
    # ingestion maps traits to lead fields and custom fields, so a form needs no mapping of its own
    trait = models.CharField(_("trait"), max_length=64)
    kind = models.CharField(
        _("type"), max_length=10, choices=FieldKind.choices, default=FieldKind.TEXT
    )
    label = models.CharField(_("label"), max_length=200)
    help_text = models.CharField(_("help text"), max_length=300, blank=True)
    required = models.BooleanField(_("required"), default=False)
    choices = models.TextField(_("choices"), blank=True)  # one per line, for "select"
    hidden_source = models.CharField(
        _("hidden value from"), max_length=20, choices=HiddenSource.choices, blank=True
    )
    fixed_value = models.CharField(_("fixed value"), max_length=200, blank=True)
    # asked only of a known visitor who has not answered it yet (see Form.progressive_slots)
    progressive = models.BooleanField(_("progressive"), default=False)

    class Meta:
        verbose_name = _("form field")
        verbose_name_plural = _("form fields")
        ordering = ("form", "position", "id")
        constraints = [
            models.UniqueConstraint(fields=["form", "trait"], name="capture_field_trait_unique")
        ]

    def __str__(self) -> str:
        return f"{self.form_id}:{self.trait}"

    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class ConsentText(models.Model):
    """One version of one consent checkbox. Never edited: a changed text is a new version."""

    form = models.ForeignKey(
        Form, on_delete=models.CASCADE, related_name="consent_texts", verbose_name=_("form")
    )
    key = models.SlugField(_("key"), max_length=40)  # stable across versions, e.g. "newsletter"
    version = models.PositiveIntegerField(_("version"))
    text = models.TextField(_("text"))
    # the channel this consent opens (privacy's ConsentEvent); blank = e.g. terms, no channel
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, blank=True)
    required = models.BooleanField(_("required to submit"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    retired = models.BooleanField(_("retired"), default=False)  # a later version replaced it
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        ordering = ("form", "position", "key", "-version")
        constraints = [
            models.UniqueConstraint(
                fields=["form", "key", "version"], name="capture_consent_version_unique"
            ),
            models.UniqueConstraint(
                fields=["form", "key"],
                condition=Q(retired=False),
                name="capture_consent_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"


class Submission(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", _("Received, being processed")
        ACCEPTED = "accepted", _("Accepted")
        PENDING = "pending", _("Waiting for the confirmation click")
        CONFIRMED = "confirmed", _("Confirmed by e-mail")
        FAILED = "failed", _("Could not be stored")

    form = models.ForeignKey(
        Form, on_delete=models.CASCADE, related_name="submissions", verbose_name=_("form")
    )
    lead = models.ForeignKey(
        Lead,
        null=True,
        on_delete=models.SET_NULL,
        related_name="form_submissions",
        verbose_name=_("lead"),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    created_lead = models.BooleanField(_("created the lead"), default=False)
    answers = models.JSONField(_("answers"), default=dict)
    # answers that differ from what the known lead holds: shown on its timeline, never applied
    proposed_changes = models.JSONField(_("proposed changes"), default=dict, blank=True)
    page_url = models.CharField(_("page"), max_length=2000, blank=True)
    source = models.CharField(
        _("source"), max_length=200, blank=True
    )  # utm_source or referrer host
    anonymous_id = models.CharField(_("anonymous id"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("submitted at"), auto_now_add=True, db_index=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    # what the worker needs to finish a received submission (capture.submit.submission_process)
    referrer = models.CharField(_("referrer"), max_length=2000, blank=True)
    consent_text_ids = models.JSONField(_("consents ticked"), default=list, blank=True)
    language = models.CharField(_("language"), max_length=20, blank=True)
    error = models.TextField(_("error"), blank=True)  # why a failed one could not be stored

    class Meta:
        verbose_name = _("submission")
        verbose_name_plural = _("submissions")
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["form", "created_at"], name="capture_sub_form_time_idx"),
            # the sweeper's: received ones a lost task left behind
            models.Index(
                fields=["created_at"],
                condition=Q(status="received"),
                name="capture_sub_received_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.form_id}:{self.pk}"


class ConsentRecord(models.Model):
    """Which consent text version a visitor ticked, when, on which page, from which address."""

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="consents", verbose_name=_("submission")
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="form_consents", verbose_name=_("lead")
    )
    consent_text = models.ForeignKey(
        ConsentText,
        on_delete=models.PROTECT,
        related_name="records",
        verbose_name=_("consent text"),
    )
    granted = models.BooleanField(_("granted"))
    at = models.DateTimeField(_("at"))
    page_url = models.CharField(_("page"), max_length=2000, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    # double opt-in: the consent counts only from this click
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"lead {self.lead_id} {self.consent_text}"


class Rejection(models.Model):
    """A submission refused (spam defence or bad input): logged for review, never a lead."""

    class Reason(models.TextChoices):
        UNKNOWN_FORM = "unknown_form", _("Unknown or unpublished form")
        ORIGIN = "origin", _("Origin not allowed")
        HONEYPOT = "honeypot", _("Honeypot filled")
        TOO_FAST = "too_fast", _("Sent too fast")
        RATE_LIMITED = "rate_limited", _("Too many submissions")
        CHALLENGE = "challenge", _("Challenge missing or wrong")
        TOO_LARGE = "too_large", _("Too large")
        INVALID = "invalid", _("Invalid answers")

    form = models.ForeignKey(
        Form,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rejections",
        verbose_name=_("form"),
    )
    form_ref = models.CharField(_("form id sent"), max_length=40, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    detail = models.TextField(_("detail"), blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    origin = models.CharField(_("origin"), max_length=300, blank=True)
    # the first 2 KB of what was sent, for review (spam is looked at, never imported)
    excerpt = models.TextField(_("excerpt"), blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("rejected submission")
        verbose_name_plural = _("rejected submissions")
        ordering = ("-at", "-id")
        indexes = [models.Index(fields=["form", "at"], name="capture_rej_form_time_idx")]

    def __str__(self) -> str:
        return f"{self.reason} {self.at:%Y-%m-%d %H:%M}"


class FormDay(models.Model):
    """Per form and site day: what only the browser sees (the embed reports views and starts)."""

    form = models.ForeignKey(
        Form, on_delete=models.CASCADE, related_name="days", verbose_name=_("form")
    )
    day = models.DateField(_("day"))
    views = models.PositiveIntegerField(_("views"), default=0)
    starts = models.PositiveIntegerField(_("starts"), default=0)

    class Meta:
        verbose_name = _("form day")
        verbose_name_plural = _("form days")
        constraints = [
            models.UniqueConstraint(fields=["form", "day"], name="capture_formday_unique")
        ]

    def __str__(self) -> str:
        return f"{self.form_id} {self.day}"
