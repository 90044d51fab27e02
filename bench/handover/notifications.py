"""Notification delivery throughput: signed webhooks to a local receiver, e-mails via Django mail.

    LEADFLOW_WEBHOOK_ALLOW_PRIVATE=1 \
    DJANGO_EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadflow_bench_handover \
        .venv/bin/python bench/handover/notifications.py [--count 2000]

Writes ``count`` webhook deliveries and ``count / 2`` e-mail deliveries through the outbox, then
delivers them in this process with ``handover.outbox.deliver_now`` (claim, sign, POST, log the
attempt, mark delivered — what a worker thread does per row). Baselines in the same run: the
same POSTs with bare ``http.client`` and no bookkeeping; the same number of pre-rendered e-mails
sent with Django mail. Rows it created are deleted at the end.
"""

import argparse
import http.client
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")

import django  # noqa: E402

django.setup()

from django.core import mail  # noqa: E402
from django.db import transaction  # noqa: E402

from handover import outbox  # noqa: E402
from handover.models import Delivery, Notification, WebhookEvent, WebhookSubscription  # noqa: E402
from handover.outbox import OutboxBatch, deliver_now  # noqa: E402
from leadflow.models import User  # noqa: E402
from leads.models import Lead  # noqa: E402
from tests.handover.receiver import webhook_receiver  # noqa: E402


def raw_posts(url: str, bodies: list[bytes]) -> float:
    host, port = url.split("//")[1].split("/")[0].split(":")
    started = time.perf_counter()
    for body in bodies:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", "/raw", body=body, headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    outbox.enqueue = (
        lambda delivery_ids: None
    )  # deliver here, in this process, not through a broker
    user, _ = User.objects.get_or_create(
        username="bench-rep", defaults={"email": "bench-rep@example.test"}
    )
    lead_ids = list(Lead.objects.order_by("id").values_list("id", flat=True)[: args.count // 2])
    with webhook_receiver(secret="bench") as receiver:  # noqa: S106  (a local test receiver)
        sub = WebhookSubscription.objects.create(
            url=receiver.url,
            event_types=["lead.mql"],
            secret="bench",  # noqa: S106
        )
        with transaction.atomic():
            batch = OutboxBatch()
            for n in range(args.count):
                batch.event("lead.mql", {"lead": {"id": n, "email": f"p{n}@example.test"}})
            hook_ids = batch.flush()
            for lead_id in lead_ids:
                batch.notify(
                    recipient_id=user.pk,
                    kind="handover.assigned",
                    title="New MQL",
                    body="Bench",
                    lead_id=lead_id,
                )
            mail_ids = batch.flush()
        started = time.perf_counter()
        deliver_now(hook_ids)
        hooks = time.perf_counter() - started
        assert Delivery.objects.filter(pk__in=hook_ids, status="delivered").count() == args.count  # noqa: S101
        bodies = [json.dumps({"id": str(n), "n": n}).encode() for n in range(args.count)]
        base_hooks = raw_posts(receiver.url, bodies)
        started = time.perf_counter()
        deliver_now(mail_ids)
        mails = time.perf_counter() - started
        assert Delivery.objects.filter(pk__in=mail_ids, status="delivered").count() == len(lead_ids)  # noqa: S101
        message = mail.outbox[0]
        started = time.perf_counter()
        for _ in lead_ids:
            message.send()
        base_mails = time.perf_counter() - started
        with transaction.atomic():
            WebhookEvent.objects.filter(deliveries__subscription=sub).delete()
            Delivery.objects.filter(pk__in=mail_ids).delete()
            Notification.objects.filter(recipient=user).delete()
            sub.delete()
    print(
        f"webhooks: {args.count / hooks:.0f}/s signed+logged (bare http.client POSTs "
        f"{args.count / base_hooks:.0f}/s; ratio {hooks / base_hooks:.2f}x the time)"
    )
    print(
        f"e-mails: {len(lead_ids) / mails:.0f}/s rendered with lead context + logged (pre-rendered "
        f"Django mail {len(lead_ids) / base_mails:.0f}/s; ratio {mails / base_mails:.1f}x the time)"
    )


if __name__ == "__main__":
    main()
