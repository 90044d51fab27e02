"""Celery tasks carry ids only and are idempotent (a finished job is not run again)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def import_run_task(job_id: int) -> None:
    from privacy.imports import import_run

    import_run(job_id=job_id)


@shared_task(ignore_result=True)
def retention_purge_task() -> int:
    from privacy.gdpr import retention_purge

    return retention_purge()
