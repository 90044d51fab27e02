"""GDPR: right of access (export), erasure, and retention of raw activities.

Layer: privacy → handover → leads. Erasure de-identifies rather than deletes the lead row (see
docs/privacy.md): the append-only stage log and every report keep their counts.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from leads.models import Activity

RETENTION_BATCH = 5000


def retention_purge(*, days: int | None = None, now: object = None) -> int:
    """Delete raw activities older than ``days`` (setting PRIVACY_ACTIVITY_RETENTION_DAYS), in
    batches of short transactions; returns how many. 0 days = keep forever."""
    keep = settings.PRIVACY_ACTIVITY_RETENTION_DAYS if days is None else days
    if not keep:
        return 0
    cutoff = timezone.now() - timedelta(days=keep)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Activity.objects.filter(occurred_at__lt=cutoff)
                .order_by("pk")
                .values_list("pk", flat=True)[:RETENTION_BATCH]
            )
            if not ids:
                return total
            total += Activity.objects.filter(pk__in=ids).delete()[0]
