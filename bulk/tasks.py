"""Celery tasks carry ids only and are idempotent (a claimed or finished job is not run again)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def bulk_run_task(job_id: int) -> None:
    from bulk.services import bulk_run

    bulk_run(job_id=job_id)
