"""Data quality and privacy: CSV imports, duplicates and merges, consent, the erasure blocklist.

Layer: ``privacy → handover → scoring → leads → leadflow`` (privacy may import every app below).
"""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from leadflow.jobs import Job
from leads.models import Lead


class DedupePolicy(models.TextChoices):
    SKIP = "skip", "Skip rows that match an existing lead"
    FILL = "fill", "Fill the existing lead's empty fields"
    OVERWRITE = "overwrite", "Overwrite the existing lead's fields"


class SavedMapping(models.Model):
    """A named column mapping (CSV header -> lead field) to reuse for files of the same shape."""

    name = models.CharField(max_length=100, unique=True)
    mapping = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ImportJob(Job):
    """A CSV import. ``done`` counts the file's records committed so far (with their leads and
    error rows, in the same transaction): a resumed run skips exactly those."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Uploaded, not started"
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    AUDIT = "import"

    file = models.FileField(upload_to="imports/", blank=True)  # deleted once a real run is done
    filename = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    mapping = models.JSONField(default=dict, blank=True)  # header -> field; {} = automatic
    policy = models.CharField(
        max_length=10, choices=DedupePolicy.choices, default=DedupePolicy.SKIP
    )
    dry_run = models.BooleanField(default=False)
    encoding = models.CharField(max_length=30, blank=True)  # "" = detect
    delimiter = models.CharField(max_length=1, blank=True)  # "" = detect
    dayfirst = models.BooleanField(default=True)  # 03/04/2026 is 3 April
    source = models.CharField(max_length=100, blank=True)  # lead source for rows without one
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(default=0)  # rows read so far
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()  # the file's record number; the header is row 1
    column = models.CharField(max_length=200, blank=True)
    value = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=300)
    skipped = models.BooleanField(default=False)  # a note (duplicate in file), not a failure

    class Meta:
        ordering = ("job", "row", "id")

    def __str__(self) -> str:
        return f"row {self.row} {self.column}: {self.message}"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Phone"
    SMS = "sms", "SMS"


class ConsentEvent(models.Model):
    """Append-only consent history per channel: granted or withdrawn, by what, when."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=100)  # "unsubscribe link", "web form", "import", ...
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["lead", "channel", "-at"], name="consent_lead_channel_idx")]

    def __str__(self) -> str:
        return f"lead {self.lead_id} {self.channel} {'granted' if self.granted else 'withdrawn'}"


class BlockedIdentifier(models.Model):
    """A keyed hash of an erased person's identifier: imports and creation refuse a match."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        EXTERNAL_ID = "external_id", "External id"
        PHONE = "phone", "Phone"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    digest = models.CharField(max_length=64)  # HMAC-SHA256 hex of the normalised value
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "digest"], name="blocked_kind_digest_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.digest[:12]}…"


class DuplicatePair(models.Model):
    """Two leads that look like one person, listed for review (lead_a.pk < lead_b.pk)."""

    class Reason(models.TextChoices):
        EMAIL = "email", "Same normalised e-mail"
        PHONE = "phone", "Same phone"
        NAME_DOMAIN = "name_domain", "Same domain, similar name"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DISMISSED = "dismissed", "Not a duplicate"

    lead_a = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    lead_b = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    similarity = models.FloatField(default=1.0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    found_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lead_a", "lead_b"], name="duplicate_pair_unique"),
            models.CheckConstraint(condition=Q(lead_a__lt=models.F("lead_b")), name="pair_ordered"),
        ]
        permissions = [("merge_leads", "Can review duplicates and merge leads")]

    def __str__(self) -> str:
        return f"{self.lead_a_id} ~ {self.lead_b_id} ({self.reason})"


class MergeRecord(models.Model):
    """A merge: which lead was folded into which, and what it held (for undo by hand / audits)."""

    survivor = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges")
    merged_lead_id = models.BigIntegerField(db_index=True)  # the row is gone; its id resolves here
    snapshot = models.JSONField()  # the merged lead's fields before the merge
    moved = models.JSONField(default=dict)  # counts of re-pointed rows per table
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()

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
