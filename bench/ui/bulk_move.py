"""Bulk move of N leads (default 10,000) Lead → MQL through the bulk job path, on PostgreSQL.

The submission resolves "all matching" to ids and queues the job exactly as the page does; the
job then runs through ``bulk.services.bulk_run`` — the function the Celery task calls — in this
process, so the time is the job's own work: per lead a savepoint, a row lock, the lifecycle
service (StageChange row, handover opened with its SLA clock, outbox rows, reports rollup; the
last two written once per batch) and an outcome row, committed per batch of 100 with the job's
progress. Tasks the moves queue (notifications) go
to a queue of this run's own on the broker and are purged at the end.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lf_bench_bulk
    export CELERY_BROKER_URL=redis://127.0.0.1:6379/1
    python manage.py migrate
    flock /work/bench.lock python bench/ui/bulk_move.py --leads 10000
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadflow.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "0")
os.environ.setdefault("LEADFLOW_CELERY_QUEUE", f"bench-bulk-{os.getpid()}")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bulk import services  # noqa: E402
from leadflow.models import User  # noqa: E402
from leadflow.roles import Role, sync_roles  # noqa: E402
from leads.lifecycle import Stage  # noqa: E402
from leads.models import Lead  # noqa: E402


def prepare(n: int, tag: str) -> User:
    sync_roles()
    admin, _ = User.objects.get_or_create(
        username="bench-bulk-admin", defaults={"is_superuser": True}
    )
    rep, created = User.objects.get_or_create(username="bench-bulk-rep")
    if created:
        from django.contrib.auth.models import Group

        rep.groups.add(Group.objects.get(name=Role.SALES_REP.value))
    now = timezone.now()
    Lead.objects.bulk_create(
        [
            Lead(
                email=f"bulk{i}-{tag}@bench.example",
                first_name="Bulk",
                last_name=f"{tag}-{i}",
                company=f"Bench {tag}",
                stage=Stage.LEAD,
                stage_changed_at=now,
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE leads_lead")
    return admin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("run it on PostgreSQL (DATABASE_URL=postgres://…)")
    tag = uuid.uuid4().hex[:8]
    actor = prepare(args.leads, tag)
    matching = Lead.objects.filter(company=f"Bench {tag}")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    started = time.perf_counter()
    # the queued task lands on this run's own queue, which no worker reads: this process runs it
    job = services.bulk_submit(
        actor=actor,
        action_code="move",
        data={"to": Stage.MQL.value},
        token=uuid.uuid4(),
        matching=matching,
        selection=f"all {args.leads} matching",
    )
    submitted = time.perf_counter()
    job = services.bulk_run(job_id=job.pk)
    finished = time.perf_counter()
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    from leadflow.celery import app

    with app.connection_for_write() as conn:
        purged = conn.default_channel.queue_purge(os.environ["LEADFLOW_CELERY_QUEUE"]) or 0  # type: ignore[attr-defined]
    total = finished - started
    print(
        f"bulk move Lead→MQL, {job.total} leads: status {job.status}, applied {job.applied}, "
        f"refused {job.refused}, failed {job.failed}"
    )
    print(
        f"submit {submitted - started:.2f} s, job {finished - submitted:.2f} s, total {total:.2f} s"
        f" = {job.total / total:.0f} leads/s; load {' '.join(load_before)} -> "
        f"{' '.join(load_after)}; {purged} queued tasks purged"
    )


if __name__ == "__main__":
    main()
