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
