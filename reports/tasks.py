"""Thin Celery wrappers around reports.services."""

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def stage_days_rebuild_task() -> int:
    from reports.services import stage_days_rebuild

    return stage_days_rebuild()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def metric_days_compact_task() -> int:
    from reports.services import metric_days_compact

    return metric_days_compact()
