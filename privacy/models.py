"""Data quality and privacy: CSV imports, duplicates and merges, consent, the erasure blocklist.

Layer: ``privacy → handover → scoring → leads → leadflow`` (privacy may import every app below).
"""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leadflow.jobs import Job
from leads.models import Lead


class DedupePolicy(models.TextChoices):
    SKIP = "skip", _("Skip rows that match an existing lead")
    FILL = "fill", _("Fill the existing lead's empty fields")
    OVERWRITE = "overwrite", _("Overwrite the existing lead's fields")


class SavedMapping(models.Model):
    """A named column mapping (CSV header -> lead field) to reuse for files of the same shape."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    mapping = models.JSONField(_("mapping"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("saved mapping")
        verbose_name_plural = _("saved mappings")

    def __str__(self) -> str:
        return self.name


class ImportJob(Job):
    """A CSV import. ``done`` counts the file's records committed so far (with their leads and
    error rows, in the same transaction): a resumed run skips exactly those."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Uploaded, not started")
        PENDING = "pending", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    AUDIT = "import"

    # deleted once a real run is done
    file = models.FileField(_("file"), upload_to="imports/", blank=True)
    filename = models.CharField(_("filename"), max_length=255)
    size = models.BigIntegerField(_("size"), default=0)
    # header -> field; {} = automatic
    mapping = models.JSONField(_("mapping"), default=dict, blank=True)
    policy = models.CharField(
        _("policy"), max_length=10, choices=DedupePolicy.choices, default=DedupePolicy.SKIP
    )
    dry_run = models.BooleanField(_("dry run"), default=False)
    encoding = models.CharField(_("encoding"), max_length=30, blank=True)  # "" = detect
    delimiter = models.CharField(_("delimiter"), max_length=1, blank=True)  # "" = detect
    dayfirst = models.BooleanField(_("dayfirst"), default=True)  # 03/04/2026 is 3 April
    # lead source for rows without one
    source = models.CharField(_("source"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    rows_total = models.PositiveIntegerField(_("rows total"), default=0)  # rows read so far
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        permissions = [("import_leads", "Can import leads from CSV files")]

    def __str__(self) -> str:
        return f"import #{self.pk} {self.filename} ({self.status})"

    def audit_action(self, status: str) -> str:
        if status in (self.Status.DONE, self.Status.FAILED):
            return "import.dry_run" if self.dry_run else "import.run"
        return f"import.{status}"

    def audit_details(self) -> dict[str, Any]:
        return {**self.summary, "done": self.done, "total": self.total}

    @property
    def resumable(self) -> bool:
        return not self.dry_run  # a dry run writes nothing to continue from: it starts over

    @property
    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows_total,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
        }


class ImportRowError(models.Model):
    """One problem with one row (and column) of an import: the downloadable error report."""

    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="row_errors", verbose_name=_("job")
    )
    row = models.PositiveIntegerField(_("row"))  # the file's record number; the header is row 1
    column = models.CharField(_("column"), max_length=200, blank=True)
    value = models.CharField(_("value"), max_length=200, blank=True)
    message = models.CharField(_("message"), max_length=300)
    # a note (duplicate in file), not a failure
    skipped = models.BooleanField(_("skipped"), default=False)

    class Meta:
        verbose_name = _("import row error")
        verbose_name_plural = _("import row errors")
        ordering = ("job", "row", "id")

    def __str__(self) -> str:
        return f"row {self.row} {self.column}: {self.message}"


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    SMS = "sms", _("SMS")
    # website tracking through the browser SDKs (/v1/* with a public key): withdrawn, no page,
    # track or identify from the browser is accepted for the person (capture.sdk_consent)
    TRACKING = "tracking", _("Website tracking")


class ConsentEvent(models.Model):
    """Append-only consent history per channel: granted or withdrawn, by what, when."""

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="consent_events", verbose_name=_("lead")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    granted = models.BooleanField(_("granted"))
    # "unsubscribe link", "web form", "import", ...
    source = models.CharField(_("source"), max_length=100)
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        indexes = [models.Index(fields=["lead", "channel", "-at"], name="consent_lead_channel_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} {self.channel} {'granted' if self.granted else 'withdrawn'}"


class BlockedIdentifier(models.Model):
    """A keyed hash of an erased person's identifier: imports and creation refuse a match."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        EXTERNAL_ID = "external_id", _("External id")
        PHONE = "phone", _("Phone")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # HMAC-SHA256 hex of the normalised value
    digest = models.CharField(_("digest"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("blocked identifier")
        verbose_name_plural = _("blocked identifiers")
        constraints = [
            models.UniqueConstraint(fields=["kind", "digest"], name="blocked_kind_digest_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.digest[:12]}…"


class DuplicatePair(models.Model):
    """Two leads that look like one person, listed for review (lead_a.pk < lead_b.pk)."""

    class Reason(models.TextChoices):
        EMAIL = "email", _("Same normalised e-mail")
        PHONE = "phone", _("Same phone")
        NAME_DOMAIN = "name_domain", _("Same domain, similar name")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DISMISSED = "dismissed", _("Not a duplicate")

    lead_a = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="+", verbose_name=_("lead a")
    )
    lead_b = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="+", verbose_name=_("lead b")
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    similarity = models.FloatField(_("similarity"), default=1.0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    found_at = models.DateTimeField(_("found at"))

    class Meta:
        verbose_name = _("duplicate pair")
        verbose_name_plural = _("duplicate pairs")
        constraints = [
            models.UniqueConstraint(fields=["lead_a", "lead_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(condition=Q(lead_a__lt=models.F("lead_b")), name="pair_ordered"),
        ]
        permissions = [("merge_leads", "Can review duplicates and merge leads")]

    def __str__(self) -> str:
        return f"{self.lead_a_id} ~ {self.lead_b_id} ({self.reason})"


class MergeRecord(models.Model):
    """A merge: which lead was folded into which, and what it held (for undo by hand / audits)."""

    survivor = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="merges", verbose_name=_("survivor")
    )
    # the row is gone; its id resolves here
    merged_lead_id = models.BigIntegerField(_("merged lead id"), db_index=True)
    snapshot = models.JSONField(_("snapshot"))  # the merged lead's fields before the merge
    moved = models.JSONField(_("moved"), default=dict)  # counts of re-pointed rows per table
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("merge record")
        verbose_name_plural = _("merge records")

    def __str__(self) -> str:
        return f"lead {self.merged_lead_id} → {self.survivor_id}"


class PrivacyPermissions(models.Model):
    """Permission holder for actions with no model of their own (export, erasure)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("export_personal_data", "Can export everything held about a person"),
            ("erase_personal_data", "Can erase a person"),
            ("manage_consent", "Can record consent and unsubscribes"),
        ]

    def __str__(self) -> str:
        return "privacy permissions"
