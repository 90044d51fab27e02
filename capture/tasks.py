"""Capture's background work: received submissions become leads (ids only; idempotent)."""

from celery import shared_task


@shared_task(name="capture.tasks.submission_process_task")
def submission_process_task(submission_id: int) -> None:
    from capture.submit import submission_process

    submission_process(submission_id=submission_id)


@shared_task(name="capture.tasks.submissions_sweep_task")
def submissions_sweep_task() -> int:
    from capture.submit import rejections_purge, submissions_sweep

    rejections_purge()
    return submissions_sweep()
