"""Celery tasks carry ids only; every one is idempotent (see handover.outbox and handover.sla)."""

from celery import shared_task


# No autoretry: a task that fails leaves its rows pending and the sweeper re-drives them.
@shared_task(acks_late=True, ignore_result=True)
def outbox_deliver_task(delivery_ids: list[int]) -> None:
    from handover.outbox import deliver_now

    deliver_now(delivery_ids)


# Acknowledged when it starts, unlike the others: a drain waiting out a slow endpoint must not
# hold one of the worker's prefetch slots (with acks_late it did, and the worker then took a
# new task only about every 2 s). Losing the message loses nothing: the rows are the queue,
# and the sweeper re-drives them.
@shared_task(acks_late=False, ignore_result=True)
def webhook_drain_task(subscription_id: int) -> None:
    """Send one subscription's due webhooks; hand the worker slot back after a time budget."""
    from handover.outbox import subscription_drain

    _, more = subscription_drain(subscription_id=subscription_id)
    if more:
        webhook_drain_task.delay(subscription_id)  # behind whatever else is queued


@shared_task(ignore_result=True)
def outbox_sweep_task() -> int:
    from handover.outbox import outbox_sweep

    return outbox_sweep()


@shared_task(ignore_result=True)
def sla_scan_task() -> int:
    from handover import account_handovers
    from handover.sla import sla_scan

    return sla_scan().claimed + account_handovers.sla_scan()


@shared_task(ignore_result=True)
def rule_precision_refresh_task() -> int:
    from handover.rule_precision import refresh_marked

    return refresh_marked()
