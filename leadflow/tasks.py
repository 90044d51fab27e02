from celery import shared_task


@shared_task(ignore_result=True)
def worker_heartbeat_task(name: str = "beat") -> None:
    """Beat sends this on a schedule; the worker that runs it records that both are alive."""
    from django.utils import timezone

    from leadflow.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"seen_at": timezone.now()})


@shared_task(ignore_result=True)
def idempotency_purge_task() -> int:
    """Hourly: forget Idempotency-Key records past their 24 h."""
    from leadflow.api.idempotency import idempotency_purge

    return idempotency_purge()


@shared_task(ignore_result=True)
def jobs_fail_stale_task() -> int:
    """Every minute: a job whose worker stopped responding is shown as failed, with the reason."""
    from leadflow.jobs import jobs_fail_stale

    return jobs_fail_stale()


@shared_task(ignore_result=True)
def deadletters_retry_task() -> int:
    """Every minute: retry the items batches set aside whose backoff has passed."""
    from leadflow.deadletter import retry_due

    return retry_due()[0]
