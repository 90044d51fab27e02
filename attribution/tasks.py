"""Thin Celery wrappers around attribution.services."""

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def refresh_marked_task() -> int:
    from attribution.services import refresh_marked

    return refresh_marked().leads
