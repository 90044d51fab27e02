"""Reactions to lead events. New activities already marked their leads dirty in the ingesting
transaction (``leads.services.activity_record``); after it commits we ask a worker to sweep.

Bursts coalesce twice: within a process at most one sweep is queued per ``SCORING_DEBOUNCE``
seconds, and one sweep scores every dirty lead it finds, batch by batch. What a skipped enqueue
leaves behind the beat sweep picks up (``scoring-dirty-sweep``).
"""

import time
from typing import Any

from django.conf import settings
from django.db import transaction

_last_enqueue = 0.0


def _enqueue_sweep() -> None:
    global _last_enqueue
    from scoring.tasks import score_dirty_sweep_task

    eager = bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))
    now = time.monotonic()
    if not eager and now - _last_enqueue < settings.SCORING_DEBOUNCE:
        return
    _last_enqueue = now
    score_dirty_sweep_task.delay()


def on_activities_recorded(sender: Any, *, lead_ids: list[int], **kwargs: Any) -> None:
    transaction.on_commit(_enqueue_sweep)
