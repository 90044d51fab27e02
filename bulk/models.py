"""A bulk action run: which action, on which leads (a snapshot of the selection), and one
outcome row per lead — applied, refused (with why) or failed (with the error)."""

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from leadflow.jobs import Job


class BulkJob(Job):
    """``done`` counts leads processed (their outcome rows are committed in the same
    transaction), so a resumed job continues after them and never acts on a lead twice."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    AUDIT = "bulk"
    UNIT = _("leads")

    # one per submitted form: a second submit of the same form finds this job (double submit)
    token = models.UUIDField(unique=True)
    action = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)  # the action's cleaned parameters
    lead_ids = models.JSONField(default=list)  # the selection, resolved when it was submitted
    description = models.CharField(max_length=300)  # "Move to SQL", for pages and the audit
    selection = models.CharField(max_length=300, blank=True)  # "3 selected", "all 812 matching …"
    in_background = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    applied = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"bulk #{self.pk} {self.description} ({self.status})"

    def audit_details(self) -> dict[str, Any]:
        return {
            **super().audit_details(),
            "action": self.action,
            "applied": self.applied,
            "refused": self.refused,
            "failed": self.failed,
        }


class BulkOutcome(models.Model):
    class Result(models.TextChoices):
        APPLIED = "applied", _("Done")
        UNCHANGED = "unchanged", _("Already so")
        REFUSED = "refused", _("Refused")
        FAILED = "failed", _("Failed")

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="outcomes")
    lead_id = models.BigIntegerField()  # no FK: the outcome outlives an erased lead
    lead_label = models.CharField(max_length=300, blank=True)
    result = models.CharField(max_length=10, choices=Result.choices)
    message = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "lead_id"], name="bulk_outcome_one_per_lead")
        ]
        indexes = [models.Index(fields=["job", "result"], name="bulk_outcome_job_result")]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.result}"
