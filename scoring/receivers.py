"""Reactions to lead events. New activities already queued their leads for rescoring in the
ingesting transaction (``leads.RescoreMark``); after it commits we ask a worker to sweep.

Bursts coalesce: a sweep is queued only when none is pending (``services.sweep_request``), and
one sweep scores every marked lead it finds, batch by batch. A lost task is covered by the beat
sweep (``scoring-dirty-sweep``), which also resets the pending flag.
"""

from typing import Any

from django.db import transaction


def _request_sweep() -> None:
    from scoring.services import sweep_request
    from scoring.tasks import score_dirty_sweep_task

    if sweep_request():
        score_dirty_sweep_task.delay()


def on_activities_recorded(sender: Any, *, lead_ids: list[int], **kwargs: Any) -> None:
    transaction.on_commit(_request_sweep)


def on_custom_field_delete_requested(sender: Any, *, field: Any, **kwargs: Any) -> None:
    """Veto deleting a custom field a draft or published model's fit rule uses."""
    from scoring.services import custom_field_check_unused

    custom_field_check_unused(key=field.key)
