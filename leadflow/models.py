from django.contrib.auth.models import AbstractUser
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """Our own user model from day one, so adding fields later needs no swap migration."""

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class WorkerHeartbeat(models.Model):
    """Last time each background process kind proved it was alive (shown by /healthz)."""

    name = models.CharField(max_length=50, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(models.Model):
    """Append-only record of a sensitive action: who did what to which object, when, from where.

    Written through ``leadflow.audit.audit_record`` in the same transaction as the action, so an
    action that rolls back leaves no audit row and one that commits always has one.
    """

    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)  # survives user deletion
    action = models.CharField(max_length=60, db_index=True)  # e.g. "lead.export", "apikey.create"
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]
        permissions = [("view_audit_log", "Can read the audit log")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"
