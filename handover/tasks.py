"""Celery tasks carry ids only; every one is idempotent (see handover.outbox and handover.sla)."""

from celery import shared_task


# No autoretry: a task that fails leaves its rows pending and the sweeper re-drives them.
@shared_task(acks_late=True, ignore_result=True)
def outbox_deliver_task(delivery_ids: list[int]) -> None:
    from handover.outbox import deliver_now

    deliver_now(delivery_ids)


@shared_task(ignore_result=True)
def outbox_sweep_task() -> int:
    from handover.outbox import outbox_sweep

    return outbox_sweep()


@shared_task(ignore_result=True)
def sla_scan_task() -> int:
    from handover.sla import sla_scan

    return sla_scan().claimed
