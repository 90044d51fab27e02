"""Thin Celery wrappers: ids in, one service call. Reruns are no-ops or resume (see services)."""

from celery import shared_task
from django.db import OperationalError


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def score_dirty_sweep_task() -> int:
    from scoring.services import score_dirty_sweep

    return score_dirty_sweep().scored


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=10,
)
def scoring_run_task(run_id: int) -> str:
    from scoring.services import run_execute

    return run_execute(run_id=run_id).status


@shared_task(ignore_result=True)
def decay_rescore_task() -> int | None:
    from scoring.services import decay_rescore_start

    run = decay_rescore_start()
    return run.pk if run else None


@shared_task(ignore_result=True)
def runs_redrive_task() -> int:
    from scoring.services import runs_redrive

    return runs_redrive()


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def account_scores_sweep_task() -> int:
    from scoring.services import account_scores_sweep

    return account_scores_sweep().scored
